"""Model references as other tools write them: they resolve, or one sentence names the gapbench
form; and a reference with a backend's prefix goes to that backend's resolver."""

from __future__ import annotations

import pytest

from gapbench.backends.references import backend_of_reference, resolve_model, stored_origin
from gapbench.errors import UsageError


def test_a_bare_hub_id_of_a_catalog_model_names_its_catalog_id() -> None:
    with pytest.raises(UsageError) as err:
        resolve_model("Qwen/Qwen2.5-Coder-0.5B-Instruct")
    message = str(err.value)
    assert "in the catalog as qwen2.5-coder-0.5b-instruct" in message
    assert "hf:Qwen/Qwen2.5-Coder-0.5B-Instruct" in message


def test_any_other_bare_hub_id_names_the_hf_form() -> None:
    with pytest.raises(UsageError, match=r"write hf:meta-llama/Llama-3\.2-1B-Instruct"):
        resolve_model("meta-llama/Llama-3.2-1B-Instruct")


def test_inspects_openai_api_form_names_ours() -> None:
    with pytest.raises(
        UsageError, match="gapbench calls this provider model deepseek/deepseek-chat"
    ):
        resolve_model("openai-api/deepseek/deepseek-chat")
    with pytest.raises(UsageError) as err:
        resolve_model("openai-api/together/meta-llama/Llama-3-8b")
    assert "openai:URL#meta-llama/Llama-3-8b?key_env=TOGETHER_API_KEY" in str(err.value)
    assert "$TOGETHER_BASE_URL" in str(err.value)


def test_openai_takes_any_model_name_and_vllm_any_served_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = resolve_model("openai/gpt-9-preview")
    assert (spec.id, spec.backend, spec.origin) == ("openai/gpt-9-preview", "openai", "US")
    assert spec.api is not None and spec.api.model == "gpt-9-preview"
    monkeypatch.setenv("VLLM_BASE_URL", "http://127.0.0.1:8001/v1,http://127.0.0.1:8002/v1")
    served = resolve_model("vllm/Qwen/Qwen2.5-7B-Instruct")
    assert served.api is not None and served.api.model == "Qwen/Qwen2.5-7B-Instruct"
    assert served.api.base_urls == ["http://127.0.0.1:8001/v1", "http://127.0.0.1:8002/v1"]


def test_inspects_hf_form_is_the_hf_backend() -> None:
    entry = backend_of_reference("hf/Org/Name")
    assert entry is not None and entry.name == "transformers"
    assert backend_of_reference("hf:./here") is entry
    assert backend_of_reference("qwen2.5-coder-0.5b-instruct") is None


def test_prefixed_references_go_to_their_backends_resolver() -> None:
    assert resolve_model("scripted:x?origin=cn").backend == "scripted"
    assert resolve_model("openai:http://127.0.0.1:9/v1#m").backend == "openai"
    assert stored_origin("scripted:x?origin=cn&released=2025-01-02")[0] == "CN"
    # An ad-hoc endpoint's id carries no origin; reading it back never touches the network.
    assert stored_origin("openai:http://127.0.0.1:9/v1#m") == ("unknown", None)


def test_an_unknown_name_still_gets_the_closest_ones() -> None:
    with pytest.raises(UsageError, match=r"Did you mean.*qwen2\.5-coder-0\.5b-instruct"):
        resolve_model("qwen2.5-coder-0.5b-instrct")
