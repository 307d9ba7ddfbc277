"""The three pluggable loading paths, each with a tiny model built and saved in the test.

Random weights test the path (loading offline from a local directory, preprocessing, label mapping,
batching), not quality.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from classifiers.registry import build_classifier
from tests.classifiers.media import photo

LABELS = {0: "safe", 1: "porn", 2: "hentai"}


def _frames() -> np.ndarray:
    return np.stack([cv2.resize(photo(n), (96, 64)) for n in ("astronaut", "coffee", "rocket")])  # (3, 64, 96, 3)


def _tokenizer(max_length: int):  # noqa: ANN202 - a transformers tokenizer
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in "abcdefghijklmnopqrstuvwxyz":
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    tokenizer.model_max_length = max_length
    return tokenizer


@pytest.fixture(scope="module")
def vit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vit")
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=32, num_labels=3, id2label=LABELS, label2id={v: k for k, v in LABELS.items()})
    ViTForImageClassification(config).save_pretrained(path)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("clip")
    tiny = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
    config = CLIPConfig(text_config={**tiny, "vocab_size": 64, "max_position_embeddings": 32,
                                     "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1},
                        vision_config={**tiny, "image_size": 32, "patch_size": 8}, projection_dim=8)
    CLIPModel(config).save_pretrained(path)
    _tokenizer(32).save_pretrained(path)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def siglip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("siglip")
    tiny = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
    config = SiglipConfig(text_config={**tiny, "vocab_size": 64, "max_position_embeddings": 16},
                          vision_config={**tiny, "image_size": 32, "patch_size": 8})
    SiglipModel(config).save_pretrained(path)
    _tokenizer(16).save_pretrained(path)
    SiglipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    torch.onnx.export(model, torch.zeros(1, 3, 32, 32), str(path), dynamo=False, input_names=["x"],
                      output_names=["logits"], dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}})
    return path, model


def _check_scores(results: list, categories: set[str]) -> None:
    assert len(results) == 3
    for result in results:
        assert set(result.scores) == categories
        assert all(0.0 <= s <= 1.0 for s in result.scores.values())


# -- transformers image classification ------------------------------------------------------------------


def test_when_transformers_checkpoint_then_labels_map_to_categories(vit_dir: Path) -> None:
    spec = {"type": "transformers", "path": str(vit_dir), "label_map": {"porn": "sexual", "hentai": "sexual"}}
    classifier = build_classifier("tiny_vit", spec)
    results = classifier.classify(_frames())
    _check_scores(results, {"sexual"})
    assert classifier.version.startswith("transformers-vit")
    assert build_classifier("tiny_vit", spec) is classifier  # loaded once per process


def test_when_transformers_label_map_names_unknown_label_then_value_error(vit_dir: Path) -> None:
    with pytest.raises(ValueError, match="does not have"):
        build_classifier("bad_vit", {"type": "transformers", "path": str(vit_dir), "label_map": {"nsfw": "sexual"}})


def test_when_transformers_path_is_not_a_checkpoint_then_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no config.json"):
        build_classifier("empty", {"type": "transformers", "path": str(tmp_path)})


# -- zero-shot CLIP / SigLIP --------------------------------------------------------------------------------


def test_when_clip_checkpoint_then_prompt_probabilities_per_category(clip_dir: Path) -> None:
    spec = {"type": "zero_shot", "path": str(clip_dir),
            "prompts": {"sexual": ["an explicit photo"], "violence": ["a bloody fight", "a gun"]}}
    classifier = build_classifier("tiny_clip", spec)
    results = classifier.classify(_frames())
    _check_scores(results, {"sexual", "violence"})
    for result in results:  # softmax over all prompts: the background keeps some of the mass
        assert sum(result.scores.values()) < 1.0
    assert classifier.classify(_frames())[0].scores == results[0].scores


def test_when_siglip_checkpoint_then_sigmoid_scores(siglip_dir: Path) -> None:
    spec = {"type": "zero_shot", "path": str(siglip_dir), "prompts": {"sexual": ["an explicit photo"]}}
    classifier = build_classifier("tiny_siglip", spec)
    _check_scores(classifier.classify(_frames()), {"sexual"})
    assert classifier.version.startswith("zero-shot-siglip")


@pytest.mark.parametrize("prompts", [{}, {"sexual": []}, {"sexual": "not a list"}])
def test_when_zero_shot_prompts_invalid_then_value_error(clip_dir: Path, prompts: dict) -> None:
    with pytest.raises(ValueError, match="prompts"):
        build_classifier("bad_clip", {"type": "zero_shot", "path": str(clip_dir), "prompts": prompts})


def test_when_zero_shot_path_holds_a_plain_classifier_then_value_error(vit_dir: Path) -> None:
    with pytest.raises(ValueError, match="not a CLIP/SigLIP"):
        build_classifier("vit_as_clip", {"type": "zero_shot", "path": str(vit_dir), "prompts": {"x": ["y"]}})


# -- ONNX with a label map ----------------------------------------------------------------------------------


def test_when_onnx_model_then_scores_equal_the_torch_forward(onnx_model: tuple[Path, torch.nn.Module]) -> None:
    path, model = onnx_model
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    spec = {"type": "onnx", "path": str(path), "labels": ["safe", "nsfw", "gore"],
            "label_map": {"nsfw": "nsfw", "gore": "violence"}, "size": [32, 32], "mean": mean, "std": std}
    classifier = build_classifier("tiny_onnx", spec)
    frames = _frames()
    results = classifier.classify(frames)
    _check_scores(results, {"nsfw", "violence"})
    resized = np.stack([cv2.resize(f, (32, 32), interpolation=cv2.INTER_AREA) for f in frames])
    x = (torch.from_numpy(resized).float() / 255 - torch.tensor(mean)) / torch.tensor(std)
    with torch.inference_mode():
        probs = torch.softmax(model(x.permute(0, 3, 1, 2)), dim=-1).numpy()
    assert np.allclose([r.scores["nsfw"] for r in results], probs[:, 1], atol=1e-4)
    assert np.allclose([r.scores["violence"] for r in results], probs[:, 2], atol=1e-4)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"labels": ["a", "b"]}, "outputs 3 values"), ({"labels": ["a", "b", "c"], "layout": "CHW"}, "layout"),
     ({"labels": ["a", "b", "c"], "output": "odds"}, "output"), ({"labels": ["a", "b", "c"], "std": [0, 1, 1]}, "std")],
)
def test_when_onnx_options_wrong_then_value_error(onnx_model: tuple[Path, torch.nn.Module], options: dict,
                                                  message: str) -> None:
    classifier_spec = {"type": "onnx", "path": str(onnx_model[0]), "size": [32, 32], **options}
    with pytest.raises(ValueError, match=message):
        build_classifier("bad_onnx", classifier_spec).classify(_frames())


# -- registry ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "spec", "message"),
    [("nope", None, "unknown frame classifier"), ("x", {"type": "keras", "path": "/m"}, "expected one of"),
     ("x", {"type": "onnx"}, "needs a 'path'"), ("x", {"type": "onnx", "path": "/no/such.onnx", "labels": ["a"]},
                                                 "not found"),
     ("x", {"type": "transformers", "path": "/m", "colour": "red"}, "bad options")],
)
def test_when_registry_entry_invalid_then_value_error(name: str, spec: dict | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_classifier(name, spec)


@pytest.mark.parametrize("name", ["nudenet", "opennsfw", "faces_haar"])
def test_when_bundled_name_then_built_once_with_name_and_version(name: str) -> None:
    classifier = build_classifier(name)
    assert classifier.name == name and classifier.version
    assert build_classifier(name) is classifier
