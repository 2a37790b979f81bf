# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""HieraMamba Hub workflow: the saved folder (auto_map shims, processor with encoders, model card data), loading
from the Hub cache layout offline (HF_HUB_OFFLINE=1), AutoModel with trust_remote_code when the package is installed
but not imported, and push_to_hub against a local stand-in of the Hub endpoints (HF_ENDPOINT)."""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
import transformers.utils.hub
import yaml
from huggingface_hub import ModelCard
from test_video_grounding_pipeline import clip_features, make_checkpoint, moving_square_frames

from hieramamba_hf import HieraMambaForVideoGrounding, HieraMambaProcessor
from hieramamba_hf.configuration_hieramamba import AUTO_MAP
from hieramamba_hf.hub_hieramamba import make_model_card, push_to_hub, save_checkpoint
from ssm_layers.remote_code import shim_sources


SHA = "0123456789abcdef0123456789abcdef01234567"
SHIMS = shim_sources("hieramamba_hf", AUTO_MAP)  # {"<module>.py": source}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    folder, model, processor = make_checkpoint(root / "tiny", frame="simple", text="bert")
    save_checkpoint(
        folder,
        model,
        processor,
        repo_id="org/hieramamba-tiny",
        metrics={"R@1,IoU=0.5": 12.5, "R@5,IoU=0.5": 40.0},
        dataset="synthetic-grounding",
    )
    features = clip_features(model, processor, moving_square_frames(30))
    return {"root": root, "folder": folder, "model": model, "processor": processor, "features": features}


def hub_cache(hf_home, folder, repo="org/hieramamba-tiny"):
    """Lay out `folder` as the Hub cache entry of `repo` under HF_HOME (refs/main -> snapshots/<sha>)."""
    entry = os.path.join(hf_home, "hub", "models--" + repo.replace("/", "--"))
    os.makedirs(os.path.join(entry, "refs"), exist_ok=True)
    with open(os.path.join(entry, "refs", "main"), "w") as f:
        f.write(SHA)
    shutil.copytree(folder, os.path.join(entry, "snapshots", SHA))
    return os.path.join(hf_home, "hub")


def test_saved_folder_layout_shims_and_model_card(saved):
    folder = saved["folder"]
    files = set(os.listdir(folder))
    assert {
        "config.json",
        "model.safetensors",
        "processor_config.json",
        "README.md",
        "tokenizer.json",
        *SHIMS,
    } <= files
    assert not any(f.endswith(".bin") for f in files)
    config = json.load(open(os.path.join(folder, "config.json")))
    model_entries = {k: v for k, v in AUTO_MAP.items() if k != "AutoProcessor"}  # the processor's is in its file
    assert config["auto_map"] == model_entries and config["model_type"] == "hieramamba"
    assert not hasattr(saved["model"].config, "auto_map")  # the in-memory config is left as it was
    proc = json.load(open(os.path.join(folder, "processor_config.json")))
    assert proc["auto_map"] == {"AutoProcessor": "processing_hieramamba.HieraMambaProcessor"}
    assert proc["components"] == {"image_processor": False, "tokenizer": True} and proc["chunk_size"] == 8
    assert config["vision_config"]["model_type"] == "simple_frame_encoder"  # the encoders are the model's
    assert config["text_config"]["model_type"] == "bert" and config["text_feature"] == "last_hidden_state"
    assert (config["fps"], config["clip_size"], config["clip_stride"], config["downsample_rate"]) == (2.0, 2, 2, 1)
    for name, body in SHIMS.items():  # shims only import the installed package: no implementation copied
        text = open(os.path.join(folder, name)).read()
        assert text.endswith(body) and len(text.splitlines()) <= 7 and "hieramamba_hf" in text
    card = ModelCard.load(os.path.join(folder, "README.md"))
    data = card.data
    assert data.pipeline_tag == "video-grounding" and data.library_name == "transformers"
    assert {"video-temporal-grounding", "moment-retrieval"} <= set(data.tags)
    assert data.base_model is None  # both encoders are stored, none is named by a Hub id
    results = {r.metric_name: r.metric_value for r in data.eval_results}
    assert results == {"R@1,IoU=0.5": 12.5, "R@5,IoU=0.5": 40.0}
    assert all(r.task_type == "video-temporal-grounding" for r in data.eval_results)
    assert "org/hieramamba-tiny" in card.text and "| R@5,IoU=0.5 | 40.00 |" in card.text
    assert "SimpleFrameEncoderModel" in card.text and "BertModel (last_hidden_state), stored" in card.text
    assert "2 fps" in card.text
    with pytest.raises(ValueError, match="dataset"):
        make_model_card(saved["model"], metrics={"R@1": 1.0})


def test_plain_model_save_pretrained_writes_auto_map_and_model_shims(saved, tmp_path):
    model = saved["model"]
    model.save_pretrained(tmp_path)
    config = json.load(open(tmp_path / "config.json"))
    assert config["auto_map"] == {k: v for k, v in AUTO_MAP.items() if k != "AutoProcessor"}
    for name in ("configuration_hieramamba.py", "modeling_hieramamba.py"):
        assert (tmp_path / name).read_text() == SHIMS[name]
    assert not (tmp_path / "processing_hieramamba.py").exists()  # no processor saved, no processor shim
    assert "auto_map" not in model.config.__dict__  # the in-memory config is unchanged


def test_from_pretrained_hub_cache_layout_in_process(saved, tmp_path):
    cache = hub_cache(str(tmp_path), saved["folder"])
    model = HieraMambaForVideoGrounding.from_pretrained(
        "org/hieramamba-tiny", cache_dir=cache, local_files_only=True, dtype=torch.float32
    )
    for a, b in zip(model.state_dict().values(), saved["model"].state_dict().values()):
        assert torch.equal(a, b)
    processor = HieraMambaProcessor.from_pretrained("org/hieramamba-tiny", cache_dir=cache, local_files_only=True)
    torch.testing.assert_close(clip_features(model, processor, moving_square_frames(30)), saved["features"])


def test_offline_hub_cache_and_trust_remote_code_without_importing_the_package(saved, tmp_path):
    """One fresh interpreter, HF_HUB_OFFLINE=1, HF_HOME holding only the cache entry of "org/hieramamba-tiny":
    (1) Auto classes with trust_remote_code load through the shims while hieramamba_hf was never imported;
    (2) after `import hieramamba_hf`, pipeline("video-grounding", model="org/hieramamba-tiny") grounds."""
    hub_cache(str(tmp_path / "hf_home"), saved["folder"])
    torch.save({"features": saved["features"], "state": saved["model"].state_dict()}, tmp_path / "expected.pt")
    script = textwrap.dedent(
        f"""
        import sys, torch
        torch.set_num_threads(1)
        from transformers import AutoConfig, AutoModel, AutoProcessor
        expected = torch.load({str(tmp_path / "expected.pt")!r})
        try:
            AutoModel.from_pretrained("org/hieramamba-tiny")
            raise SystemExit("loaded custom code without trust_remote_code")
        except ValueError as error:
            assert "trust_remote_code" in str(error), error
        assert "hieramamba_hf" not in sys.modules
        config = AutoConfig.from_pretrained("org/hieramamba-tiny", trust_remote_code=True)
        model = AutoModel.from_pretrained("org/hieramamba-tiny", trust_remote_code=True, dtype=torch.float32)
        processor = AutoProcessor.from_pretrained("org/hieramamba-tiny", trust_remote_code=True)
        assert type(config).__name__ == "HieraMambaConfig" and type(model).__name__ == "HieraMambaModel", type(model)
        assert type(processor).__name__ == "HieraMambaProcessor"
        for key, value in model.state_dict().items():
            assert torch.equal(value, expected["state"]["model." + key]), key
        import hieramamba_hf  # registers the task
        from transformers import pipeline
        grounder = pipeline("video-grounding", model="org/hieramamba-tiny")
        assert type(grounder.model).__name__ == "HieraMambaForVideoGrounding"
        result = grounder(expected["features"], query="a red square", top_k=2)
        assert 1 <= len(result) <= 2 and set(result[0]) == {{"start", "end", "score"}}
        print("RESULT", result)
        """
    )
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    env.pop("HF_HUB_CACHE", None)
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0 and "RESULT" in result.stdout, result.stderr[-3000:]
    from transformers import pipeline

    expected = pipeline("video-grounding", model=saved["folder"])(saved["features"], query="a red square", top_k=2)
    assert result.stdout.split("RESULT", 1)[1].strip() == str(expected)


# ----------------------------------------------------------------------------------------------------------------
# push_to_hub against a local stand-in of the Hub API
# ----------------------------------------------------------------------------------------------------------------
class StandInHub:
    """Just the endpoints push_to_hub calls: create repo, validate README metadata, preupload (every file
    "regular", i.e. inlined in the commit), commit (NDJSON: header + base64 files)."""

    def __init__(self):
        self.repos, self.calls, self.readmes = {}, [], []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, code, payload):
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # nothing is served back: every file is "not found" (a new repo)
                hub.calls.append((self.command, self.path))
                data = json.dumps({"error": "entry not found"}).encode()
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(data)

            do_HEAD = do_GET

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hub.calls.append(("POST", self.path))
                host = f"http://{self.headers['Host']}"
                if self.path == "/api/repos/create":
                    request = json.loads(body)
                    repo = f"{request.get('organization') or 'user'}/{request['name']}"
                    visibility = request.get("visibility") or ("private" if request.get("private") else "public")
                    hub.repos.setdefault(repo, {"files": {}, "commits": [], "visibility": visibility})
                    return self.reply(200, {"url": f"{host}/{repo}", "name": repo})
                if self.path == "/api/validate-yaml":
                    content = json.loads(body)["content"]
                    hub.readmes.append(content)
                    yaml.safe_load(content.split("---")[1])  # the metadata block parses
                    return self.reply(200, {"errors": [], "warnings": []})
                parts = self.path.split("/")
                if self.path.startswith("/api/models/") and parts[5] == "preupload":
                    files = json.loads(body)["files"]
                    return self.reply(
                        200,
                        {
                            "files": [
                                {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files
                            ]
                        },
                    )
                if self.path.startswith("/api/models/") and parts[5] == "commit":
                    repo = "/".join(parts[3:5])
                    header, files = None, {}
                    for line in body.decode().splitlines():
                        item = json.loads(line)
                        if item["key"] == "header":
                            header = item["value"]
                        elif item["key"] == "file":
                            files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                    hub.repos[repo]["files"].update(files)
                    hub.repos[repo]["commits"].append(header)
                    oid = hashlib.sha1(body).hexdigest()
                    return self.reply(
                        200, {"commitUrl": f"{host}/{repo}/commit/{oid}", "commitOid": oid, "pullRequestUrl": None}
                    )
                self.reply(404, {"error": f"endpoint {self.path} not in the stand-in"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stand_in_hub(monkeypatch):
    import huggingface_hub.constants

    hub = StandInHub()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", hub.url)  # read once at import
    monkeypatch.setattr(
        huggingface_hub.constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(transformers.utils.hub, "_hf_api", None)  # transformers' shared HfApi, built lazily
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    yield hub
    hub.close()


def test_push_to_hub_uploads_model_processor_shims_and_card(saved, stand_in_hub, tmp_path):
    info = push_to_hub(
        saved["model"],
        saved["processor"],
        "org/hieramamba-tiny",
        token="hf_test",
        private=True,
        commit_message="add tiny HieraMamba",
        metrics={"R@1,IoU=0.5": 12.5},
        dataset="synthetic-grounding",
    )
    repo = stand_in_hub.repos["org/hieramamba-tiny"]
    assert str(info.commit_url).startswith(stand_in_hub.url) and repo["visibility"] == "private"
    assert [c["summary"] for c in repo["commits"]] == ["add tiny HieraMamba"]  # model + processor: ONE commit
    paths = [p for _, p in stand_in_hub.calls]
    assert paths[-4:] == [
        "/api/repos/create",
        "/api/validate-yaml",
        "/api/models/org/hieramamba-tiny/preupload/main",
        "/api/models/org/hieramamba-tiny/commit/main",
    ]
    local = str(tmp_path / "local")
    save_checkpoint(local, saved["model"], saved["processor"], model_card=False)
    expected = {
        os.path.relpath(os.path.join(d, f), local).replace(os.sep, "/") for d, _, fs in os.walk(local) for f in fs
    }
    assert set(repo["files"]) == expected | {"README.md"}
    for path in expected:  # the uploaded bytes are the saved files
        assert repo["files"][path] == open(os.path.join(local, path), "rb").read(), path
    card = yaml.safe_load(repo["files"]["README.md"].decode().split("---")[1])
    assert card["pipeline_tag"] == "video-grounding" and "moment-retrieval" in card["tags"]
    assert card["model-index"][0]["results"][0]["metrics"][0]["value"] == 12.5
    # the pushed files, laid out as a Hub cache, load offline into the same model
    pushed = tmp_path / "pushed"
    for path, data in repo["files"].items():
        os.makedirs(os.path.dirname(pushed / path), exist_ok=True)
        (pushed / path).write_bytes(data)
    cache = hub_cache(str(tmp_path / "home"), str(pushed))
    model = HieraMambaForVideoGrounding.from_pretrained("org/hieramamba-tiny", cache_dir=cache, local_files_only=True)
    for a, b in zip(model.state_dict().values(), saved["model"].state_dict().values()):
        assert torch.equal(a, b)
    assert (
        HieraMambaProcessor.from_pretrained("org/hieramamba-tiny", cache_dir=cache, local_files_only=True).tokenizer
        is not None
    )
    # the standard PushToHubMixin path of the processor alone works too (it looks for a README first: 404 -> new card)
    saved["processor"].push_to_hub("org/processor-only", token="hf_test")
    files = stand_in_hub.repos["org/processor-only"]["files"]
    assert {"processor_config.json", "processing_hieramamba.py", "tokenizer.json", "README.md"} <= set(files)
    assert "config.json" not in files and "model.safetensors" not in files
    assert any(path == "/org/processor-only/resolve/main/README.md" for _, path in stand_in_hub.calls)
