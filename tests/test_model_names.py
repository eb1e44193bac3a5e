"""Imported model names (issue 13): MediConfusion's Results/<model>/<model>_<mode>.json and VLMEvalKit's
{model}_{dataset} convention; the mode is a separate field stored with the run."""
from __future__ import annotations

import json
import os

from medviz.predictions.mediconfusion import model_and_mode
from medviz.predictions.vlmevalkit import model_name


def test_mediconfusion_model_from_the_results_folder_and_mode_apart():
    assert model_and_mode("/x/Results/llava/llava_mc.json") == ("llava", "mc")
    assert model_and_mode("/x/Results/llava_v1.5_7b/llava_v1.5_7b_gpt4.json") == ("llava_v1.5_7b", "gpt4")
    assert model_and_mode("/x/Results/blip2/blip2_greedy.json") == ("blip2", "greedy")
    assert model_and_mode("/tmp/upload/llava_mc.json") == ("llava", "mc")         # an upload: no Results folder
    assert model_and_mode("/tmp/upload/med_flamingo_prefix.json") == ("med_flamingo", "prefix")
    assert model_and_mode("/tmp/upload/mymodel.json") == ("mymodel", None)
    assert model_and_mode("/x/Results/m/m_custommode.json") == ("m", "custommode")   # folder names the model
    assert model_and_mode("/x/Results/llava/llava_v1.5_mc.json") == ("llava_v1.5", "mc")


def test_vlmevalkit_model_from_model_dataset_convention():
    assert model_name("/o/GPT4o/GPT4o_GMAI-MMBench_VAL.xlsx") == "GPT4o"
    assert model_name("/o/Qwen2-VL_7B/T20250101_Gabc123/Qwen2-VL_7B_GMAI-MMBench_VAL.xlsx") == "Qwen2-VL_7B"
    assert model_name("/tmp/u/llava_v1.5_7b_GMAI-MMBench_VAL_gpt4o_result.xlsx") == "llava_v1.5_7b"
    assert model_name("/tmp/u/InternVL2-8B_GMAI_MMBench_TEST.tsv") == "InternVL2-8B"
    assert model_name("/tmp/u/something.xlsx") == "something"
    assert model_name("/o/llava/llava_v1.5_GMAI-MMBench_VAL.xlsx") == "llava_v1.5"     # the dataset marker wins
    assert model_name("/o/MyVLM/MyVLM_MedBench.xlsx") == "MyVLM"                       # another dataset


def test_import_stores_the_mode_with_the_run(store, sample_files, tmp_path):
    from medviz.ingest import import_predictions, ingest_benchmark
    from medviz.store import core
    ingest_benchmark(store, sample_files["mc_dataset"], kind="mediconfusion", benchmark_id="mc",
                     images_dir=sample_files["mc_images"])
    data = json.load(open(sample_files["mc_dataset"]))
    res = {pid: {"answer": {"im1": {"full_answer": "A"}, "im2": {"full_answer": "B"}}} for pid in data}
    d = tmp_path / "Results" / "my-model"
    os.makedirs(d)
    p = d / "my-model_greedy.json"
    p.write_text(json.dumps(res))
    assert import_predictions(store, "mc", str(p)) == {"my-model": 16}
    m = core.models(store.cursor(), "mc").set_index("model")
    assert m.loc["my-model", "mode"] == "greedy"


def test_after_an_upload_the_new_model_is_selected():
    import pytest
    pytest.importorskip("streamlit.testing.v1")
    from streamlit.testing.v1 import AppTest

    def script():
        import streamlit as st
        from medviz.ui.upload import select_models
        st.multiselect("Models", ["a", "b", "new"], key="models::bench")
        st.button("import", on_click=select_models, args=("bench", ["new"]), key="go")

    at = AppTest.from_function(script)
    at.session_state["models::bench"] = ["a"]
    at.run()
    at.button(key="go").click().run()
    assert not at.exception
    assert at.multiselect(key="models::bench").value == ["a", "new"]
