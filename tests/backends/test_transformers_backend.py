"""The transformers backend on a tiny random Llama that the test builds and saves itself.

Expected outputs come from an independent greedy loop (the model run on the unpadded prompt, argmax,
append; no generate(), no cache, no padding), so left padding, per-row caps, stop handling and
token counts are all checked against a computation that shares none of the backend's code.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Nothing here may touch the Hub; huggingface_hub reads this once, when it is first imported.
os.environ["HF_HUB_OFFLINE"] = "1"

import jinja2
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from gapbench.backends.registry import BackendOptions
from gapbench.backends.transformers_backend import (
    TransformersBackend,
    create,
    local_model_spec,
)
from gapbench.backends.transformers_files import weights_sha256
from gapbench.backends.types import ChatMessage, Generation, GenerationRequest, SamplingParams
from gapbench.errors import ModelFileError, UsageError

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "What is 12 plus 30? Answer: 42",
    "Question: name a colour. Answer: red",
    "hello world, how are you today?",
]
TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}[assistant] {% endif %}"
)
MAX_POSITIONS = 64
EOS = 2
PROMPTS = [
    "What is 12 plus 30?",
    "hello",
    "The quick brown fox jumps over the lazy dog. The quick brown",
    "Question: name a colour. Answer:",
    "how are you",
]


def _raw_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(SENTENCES * 10, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    return tok


def _save_model(
    directory: Path, *, chat_template: str | None, eos: list[int] | None = None
) -> None:
    raw = _raw_tokenizer()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=raw.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=MAX_POSITIONS,
        bos_token_id=1,
        eos_token_id=EOS,
        pad_token_id=0,
        initializer_range=0.5,  # large weights: varied greedy outputs, not one token repeated
    )
    model = LlamaForCausalLM(config)
    if eos is not None:
        model.generation_config.eos_token_id = eos
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("hf") / "tiny-llama"
    _save_model(directory, chat_template=TEMPLATE)
    return directory


@pytest.fixture(scope="module")
def reference_model(model_dir: Path) -> Any:
    return LlamaForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def raw_tokenizer(model_dir: Path) -> Tokenizer:
    return Tokenizer.from_file(str(model_dir / "tokenizer.json"))


def _load(directory: Path, batch_size: int, kind: str = "instruct") -> TransformersBackend:
    spec = local_model_spec(directory).model_copy(update={"kind": kind})
    return create(spec, None, BackendOptions(batch_size=batch_size, threads=1))


@pytest.fixture(scope="module")
def batched(model_dir: Path) -> Iterator[TransformersBackend]:
    backend = _load(model_dir, batch_size=3)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def single(model_dir: Path) -> Iterator[TransformersBackend]:
    backend = _load(model_dir, batch_size=1)
    yield backend
    backend.close()


def reference_greedy(model: Any, ids: list[int], n: int) -> list[int]:
    """n greedy tokens by recomputing the whole unpadded sequence at each step."""
    sequence = list(ids)
    with torch.no_grad():
        for _ in range(n):
            logits = model(torch.tensor([sequence])).logits[0, -1]
            sequence.append(int(logits.argmax()))
    return sequence[len(ids) :]


def expected(tokens: list[int], cap: int, eos: set[int]) -> tuple[list[int], str]:
    """Tokens the backend should count and its finish reason for a greedy continuation."""
    for i, token in enumerate(tokens[:cap]):
        if token in eos:
            return tokens[: i + 1], "stop"
    return tokens[:cap], "length"


def _request(rid: str, prompt: str, max_tokens: int = 12, **kw: Any) -> GenerationRequest:
    return GenerationRequest(rid, SamplingParams(max_tokens=max_tokens, **kw), prompt=prompt)


def _by_id(generations: Iterator[Generation]) -> dict[str, Generation]:
    return {g.request_id: g for g in generations}


def test_batched_greedy_matches_unpadded_reference(
    batched: TransformersBackend,
    single: TransformersBackend,
    reference_model: Any,
    raw_tokenizer: Tokenizer,
) -> None:
    caps = [12, 5, 9, 12, 1]  # different caps in one batch: each row stops at its own
    requests = [
        _request(str(i), p, cap) for i, (p, cap) in enumerate(zip(PROMPTS, caps, strict=True))
    ]
    together = _by_id(batched.generate(requests))
    alone = _by_id(single.generate(requests))
    assert set(together) == {r.request_id for r in requests}
    for request, prompt, cap in zip(requests, PROMPTS, caps, strict=True):
        prompt_ids = raw_tokenizer.encode(prompt).ids
        tokens, reason = expected(reference_greedy(reference_model, prompt_ids, cap), cap, {EOS})
        got = together[request.request_id]
        text_ids = tokens[:-1] if reason == "stop" else tokens
        assert got.error is None
        assert got.prompt_tokens == len(prompt_ids)
        assert got.completion_tokens == len(tokens)
        assert got.finish_reason == reason
        assert got.text == raw_tokenizer.decode(text_ids, skip_special_tokens=True)
        same = alone[request.request_id]
        assert (same.text, same.completion_tokens, same.finish_reason) == (
            got.text,
            got.completion_tokens,
            got.finish_reason,
        )
        t = got.timing
        assert t.first_token is not None and t.start <= t.first_token <= t.end


def test_eos_stops_and_counts_the_eos_token(
    tmp_path: Path, reference_model: Any, raw_tokenizer: Tokenizer
) -> None:
    prompt_ids = raw_tokenizer.encode(PROMPTS[0]).ids
    free = reference_greedy(reference_model, prompt_ids, 12)
    # Make the 4th generated token an end-of-sequence token (same weights, new generation config).
    stop_token = free[3]
    directory = tmp_path / "eos-model"
    _save_model(directory, chat_template=TEMPLATE, eos=[EOS, stop_token])
    backend = _load(directory, batch_size=2)
    try:
        (got,) = backend.generate([_request("a", PROMPTS[0], 12)])
    finally:
        backend.close()
    tokens, reason = expected(free, 12, {EOS, stop_token})
    assert reason == "stop" and len(tokens) <= 4
    assert got.finish_reason == "stop"
    assert got.completion_tokens == len(tokens)
    assert got.text == raw_tokenizer.decode(tokens[:-1], skip_special_tokens=True)


def test_stop_string_trims_and_ends_early(
    batched: TransformersBackend, reference_model: Any, raw_tokenizer: Tokenizer
) -> None:
    prompt = PROMPTS[2]
    free = reference_greedy(reference_model, raw_tokenizer.encode(prompt).ids, 12)
    tokens, _ = expected(free, 12, {EOS})
    full = raw_tokenizer.decode(tokens, skip_special_tokens=True)
    # A stop string from the middle of the free text, made of characters that decode cleanly.
    stop = next(
        full[i : i + 2]
        for i in range(2, len(full) - 2)
        if "\ufffd" not in full[i : i + 2] and full[i : i + 2].strip()
    )
    n = next(k for k in range(1, len(tokens) + 1) if stop in raw_tokenizer.decode(tokens[:k]))
    partial = raw_tokenizer.decode(tokens[:n], skip_special_tokens=True)
    requests = [_request("s", prompt, 12, stop=(stop,)), _request("o", PROMPTS[0], 12)]
    got = _by_id(batched.generate(requests))
    assert got["s"].finish_reason == "stop"
    assert got["s"].completion_tokens == n
    assert got["s"].text == partial[: partial.find(stop)]
    assert stop not in got["s"].text


def test_too_long_prompt_fails_alone(
    batched: TransformersBackend, single: TransformersBackend
) -> None:
    long_prompt = " ".join(["fox"] * (MAX_POSITIONS + 10))
    requests = [
        _request("ok1", PROMPTS[0]),
        _request("long", long_prompt),
        _request("ok2", PROMPTS[1]),
    ]
    got = _by_id(batched.generate(requests))
    assert got["long"].finish_reason == "error"
    assert got["long"].error is not None and "longer than context" in got["long"].error
    assert got["long"].prompt_tokens > MAX_POSITIONS
    alone = _by_id(single.generate([requests[0], requests[2]]))
    for rid in ("ok1", "ok2"):
        assert got[rid].error is None
        assert got[rid].text == alone[rid].text


def test_a_failing_batch_is_split_so_only_the_culprit_fails(
    batched: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = TransformersBackend._run_batch

    def fragile(self: TransformersBackend, jobs: Any, sampling: SamplingParams) -> Any:
        if any(job.request.request_id == "bad" for job in jobs):
            raise RuntimeError("out of memory")
        return real(self, jobs, sampling)

    monkeypatch.setattr(TransformersBackend, "_run_batch", fragile)
    requests = [_request("a", PROMPTS[0]), _request("bad", PROMPTS[1]), _request("c", PROMPTS[3])]
    got = _by_id(batched.generate(requests))
    assert got["bad"].finish_reason == "error" and "out of memory" in (got["bad"].error or "")
    assert got["a"].error is None and got["c"].error is None


def test_chat_template_renders_instruct_prompts(
    batched: TransformersBackend, model_dir: Path, raw_tokenizer: Tokenizer
) -> None:
    messages = (ChatMessage("system", "Be brief."), ChatMessage("user", "What is 12 plus 30?"))
    request = GenerationRequest("c", SamplingParams(max_tokens=4), messages=messages)
    (got,) = batched.generate([request])
    rendered = jinja2.Template(TEMPLATE).render(
        bos_token="<s>",
        messages=[{"role": m.role, "content": m.content} for m in messages],
        add_generation_prompt=True,
    )
    assert got.prompt_tokens == len(raw_tokenizer.encode(rendered, add_special_tokens=False).ids)
    # A base model joins the turns as plain text instead.
    base = _load(model_dir, batch_size=1, kind="base")
    try:
        (plain,) = base.generate([request])
    finally:
        base.close()
    joined = "Be brief.\n\nWhat is 12 plus 30?"
    assert plain.prompt_tokens == len(raw_tokenizer.encode(joined).ids)


def test_greedy_and_seeded_sampling_are_reproducible(batched: TransformersBackend) -> None:
    requests = [_request(str(i), p) for i, p in enumerate(PROMPTS[:3])]
    requests += [_request(f"t{i}", p, temperature=1.0, seed=7) for i, p in enumerate(PROMPTS[:3])]
    first = _by_id(batched.generate(requests))
    second = _by_id(batched.generate(requests))
    assert {k: g.text for k, g in first.items()} == {k: g.text for k, g in second.items()}
    # Temperature 1 over a random model's flat distribution differs from greedy somewhere.
    assert any(first[f"t{i}"].text != first[str(i)].text for i in range(3))


def test_info_records_engine_device_and_weights_hash(
    batched: TransformersBackend, model_dir: Path
) -> None:
    import transformers

    info = batched.info()
    assert info.backend == "transformers"
    assert info.engine_version == (
        f"transformers {transformers.__version__} / torch {torch.__version__}"
    )
    weights = (model_dir / "model.safetensors").read_bytes()
    assert info.model_sha256 == hashlib.sha256(weights).hexdigest()
    expected_device = "cuda" if torch.cuda.is_available() else "cpu"
    assert info.device.startswith(expected_device + ":")
    assert (info.threads, info.batch_size) == (1, 3)
    assert info.extra["context_limit"] == str(MAX_POSITIONS)


def test_local_model_spec_reads_the_directory(
    model_dir: Path, reference_model: Any, tmp_path: Path
) -> None:
    spec = local_model_spec(model_dir)
    assert spec.id == "hf-local:tiny-llama"
    assert spec.backend == "transformers"
    assert spec.kind == "instruct"
    assert spec.family == "llama"
    assert spec.context_length == MAX_POSITIONS
    assert spec.params == sum(p.numel() for p in reference_model.parameters())
    base_dir = tmp_path / "base-model"
    shutil.copytree(model_dir, base_dir)
    (base_dir / "chat_template.jinja").unlink()
    assert local_model_spec(base_dir).kind == "base"


def test_bad_paths_fail_with_one_sentence(tmp_path: Path, model_dir: Path) -> None:
    with pytest.raises(UsageError, match="no config"):
        local_model_spec(tmp_path)
    spec = local_model_spec(model_dir)
    with pytest.raises(ModelFileError, match="does not exist"):
        create(spec, tmp_path / "missing", BackendOptions())
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(ModelFileError, match="cannot load"):
        create(spec, tmp_path, BackendOptions())


@pytest.mark.slow
def test_smollm2_gguf_loads_and_answers(smollm2_file: Path) -> None:
    pytest.importorskip("gguf")
    spec = local_model_spec(smollm2_file)
    assert spec.kind == "instruct"
    backend = create(spec, smollm2_file, BackendOptions(batch_size=2, threads=2))
    try:
        messages = (ChatMessage("user", "What is 2 + 3?"),)
        requests = [
            GenerationRequest("chat", SamplingParams(max_tokens=8), messages=messages),
            _request("base", "The capital of France is", 4),
        ]
        got = _by_id(backend.generate(requests))
        info = backend.info()
    finally:
        backend.close()
    assert info.extra["chat_template"] == "tokenizer"
    assert info.extra["gguf_file"] == smollm2_file.name
    for generation in got.values():
        assert generation.error is None
        assert generation.text.strip()
        assert generation.completion_tokens >= 1
    assert "5" in got["chat"].text


def test_weights_hash_of_sharded_directory_covers_every_shard(tmp_path: Path) -> None:
    for name, data in (("model-00001.safetensors", b"one"), ("model-00002.safetensors", b"two")):
        (tmp_path / name).write_bytes(data)
    lines = "".join(
        f"model-0000{i}.safetensors  {hashlib.sha256(data).hexdigest()}\n"
        for i, data in ((1, b"one"), (2, b"two"))
    )
    assert weights_sha256(tmp_path) == hashlib.sha256(lines.encode()).hexdigest()
    (tmp_path / "model-00002.safetensors").write_bytes(b"changed")
    assert weights_sha256(tmp_path) != hashlib.sha256(lines.encode()).hexdigest()


def test_cli_runs_a_local_transformers_model(model_dir: Path, tmp_path: Path) -> None:
    """`--model hf:DIR` goes through the registry, runner and store like any other model. The
    tiny test model has 64 positions, shorter than any task prompt: every sample is stored as
    failed with its reason, and the run exits 1 saying so."""
    import sqlite3

    from tests.helpers import run_gapbench

    db = tmp_path / "hf.db"
    args = ["run", "--model", f"hf:{model_dir}", "--task", "arith", "--n", "3", "--max-tokens", "8"]
    result = run_gapbench(*args, "--batch-size", "2", "--db", str(db), env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 1, result.stderr
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT completion_tokens, error FROM samples").fetchall()
        backend, engine = conn.execute("SELECT backend, engine_version FROM runs").fetchone()
    assert len(rows) == 3
    assert all(tokens == 0 and "prompt longer than context" in error for tokens, error in rows)
    assert "3 of 3 planned samples failed" in result.stderr
    assert backend == "transformers" and "torch" in engine


def test_cli_runs_a_model_from_a_hub_repository(model_dir: Path, tmp_path: Path) -> None:
    """`--model hf:Org/Name` downloads the repository from the Hub (a loopback stand-in named by
    HF_ENDPOINT) into the Hugging Face cache, records it under that id, and reuses the snapshot
    when the Hub is unreachable."""
    import sqlite3

    from tests.fake_hub import serve_hub
    from tests.helpers import run_gapbench

    db, home = tmp_path / "hub.db", tmp_path / "hf-home"
    args = ["run", "--model", "hf:org/tiny-random", "--task", "arith", "--n", "2"]
    with serve_hub() as hub:
        hub.add_directory("org/tiny-random", model_dir, commit="d" * 40)
        # Online for this one: the download goes to the loopback hub and nowhere else.
        env = {"HF_ENDPOINT": hub.url, "HF_HOME": str(home), "HF_HUB_OFFLINE": "0"}
        first = run_gapbench(*args, "--db", str(db), env=env)
    assert first.returncode == 1, first.stderr  # its 64 positions fail every prompt
    assert "Downloading org/tiny-random" in first.stderr
    snapshot = home / "hub" / "models--org--tiny-random" / "snapshots" / ("d" * 40)
    for name in ("config.json", "model.safetensors"):
        assert (snapshot / name).read_bytes() == (model_dir / name).read_bytes()
    offline = {**env, "HF_ENDPOINT": "http://127.0.0.1:9"}
    second = run_gapbench(*args, "--n", "3", "--db", str(db), env=offline)
    assert second.returncode == 1, second.stderr
    assert "unreachable" in second.stderr
    with sqlite3.connect(db) as conn:
        models = {row[0] for row in conn.execute("SELECT model_id FROM samples")}
        count = conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
        hashes = {row[0] for row in conn.execute("SELECT model_sha256 FROM runs")}
    assert models == {"hf:org/tiny-random"} and count == 3
    assert hashes == {weights_sha256(model_dir)}
