"""Text tokenizers for CLIP text towers, without torch or open_clip.

open_clip's tokenizer returns torch tensors and so needs torch, which an ONNX-only build of
ClipDesk leaves out. Immich's ONNX exports of CLIP models ship Hugging Face tokenizer files
(``tokenizer.json``, ``tokenizer_config.json``), so this module reads those with the small
``tokenizers`` library and gives the same token ids open_clip would.

Two kinds of tokenizer:

``"clip"``
    open_clip's ``SimpleTokenizer``: the text is cleaned as open_clip cleans it (ftfy, HTML
    unescaping, whitespace, lower case), split and byte-pair encoded with the vocabulary and
    merges from ``tokenizer.json``, framed by the start and end tokens, truncated to the
    context length with the end token kept last, and padded with 0 - exactly
    ``open_clip.tokenize``.
``"hf"``
    any other Hugging Face tokenizer (XLM-RoBERTa for the multilingual models): its own
    normalizer, special tokens and pad token, truncated and padded to the context length.

``write_clip_tokenizer`` writes the ``"clip"`` files from open_clip's own vocabulary, in the
format of Hugging Face's ``CLIPTokenizerFast`` (openai/clip-vit-base-patch32); it runs when a
model is exported, where open_clip is at hand.

``tokenizers`` (and ``ftfy`` for the clip kind) are imported only when used, so this module
imports anywhere.
"""

from __future__ import annotations

import functools
import html
import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clipdesk.core.errors import ClipDeskError

START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"

# open_clip's SimpleTokenizer splits text with this (after its own special tokens).
SPLIT_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
# open_clip names its special tokens differently from Hugging Face; it turns these two
# literal strings in a text into the start and end token ids (see _open_clip_parts).
_OPEN_CLIP_SPECIALS = re.compile(r"<start_of_text>|<end_of_text>")
_BPE_MERGES_END = 49152 - 256 - 2 + 1  # open_clip: merges = lines[1:49152-256-2+1]

KINDS = ("auto", "clip", "hf")


def write_clip_tokenizer(folder: Path, context_length: int = 77) -> None:
    """Write open_clip's CLIP tokenizer into ``folder`` as Hugging Face tokenizer files.

    The vocabulary and merges are built exactly as open_clip's ``SimpleTokenizer`` builds them
    from its ``bpe_simple_vocab_16e6.txt.gz``; the files are those ``CLIPTokenizerFast`` saves.
    Needs open_clip and tokenizers (model-export time only).
    """
    import gzip

    try:
        from open_clip.tokenizer import bytes_to_unicode, default_bpe
    except ImportError as err:
        raise ClipDeskError(f"open_clip is needed to write the CLIP tokenizer: {err}") from err
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, processors
    from tokenizers import models as tk_models

    byte_chars = list(bytes_to_unicode().values())
    with gzip.open(default_bpe()) as f:
        lines = f.read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1:_BPE_MERGES_END]]
    tokens = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges]
    tokens += [START_TOKEN, END_TOKEN]
    vocab = {token: i for i, token in enumerate(tokens)}

    tok = Tokenizer(
        tk_models.BPE(
            vocab,
            merges,
            dropout=None,
            continuing_subword_prefix="",
            end_of_word_suffix="</w>",
            fuse_unk=False,
            unk_token=END_TOKEN,
        )
    )
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
    )
    tok.pre_tokenizer = _clip_pre_tokenizer()
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.RobertaProcessing(
        (END_TOKEN, vocab[END_TOKEN]),  # sep (positional: the keyword's name has changed)
        (START_TOKEN, vocab[START_TOKEN]),  # cls
        trim_offsets=False,
        add_prefix_space=False,
    )
    tok.add_special_tokens(
        [AddedToken(t, normalized=True, special=True) for t in (START_TOKEN, END_TOKEN)]
    )

    data = json.loads(tok.to_str())
    # Merges as "a b" strings, as in the Hugging Face files: older tokenizers read only these
    # (no symbol holds a space, since byte-level symbols spell the space byte as "Ġ").
    data["model"]["merges"] = [" ".join(pair) for pair in data["model"]["merges"]]

    def added(content: str) -> dict[str, Any]:
        return {"content": content, "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": True}

    special = {"bos_token": added(START_TOKEN), "eos_token": added(END_TOKEN),
               "pad_token": END_TOKEN, "unk_token": added(END_TOKEN)}
    config = {key: {**value, "__type": "AddedToken"} if isinstance(value, dict) else value
              for key, value in special.items()}
    config.update(add_prefix_space=False, do_lower_case=True, errors="replace",
                  model_max_length=context_length, tokenizer_class="CLIPTokenizer")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in ((TOKENIZER_FILE, data), (CONFIG_FILE, config),
                          (SPECIAL_TOKENS_FILE, special)):
        text = json.dumps(content, ensure_ascii=False, indent=2)
        (folder / name).write_text(text + "\n", encoding="utf-8")


class TextTokenizer:
    """Texts to fixed-length token ids and attention masks for a text tower.

    Safe to share between threads: everything is configured once, in ``from_folder``.
    """

    def __init__(
        self,
        tokenizer: Any,
        context_length: int,
        kind: str,
        pad_id: int,
        start_id: int | None = None,
        end_id: int | None = None,
    ):
        """Use ``from_folder``; ``tokenizer`` is a ``tokenizers.Tokenizer`` configured for
        ``kind`` (see there)."""
        self._tok = tokenizer
        self._context_length = context_length
        self.kind = kind
        self.pad_id = pad_id
        self._start_id = start_id
        self._end_id = end_id

    @classmethod
    def from_folder(cls, folder: Path, context_length: int, kind: str = "auto") -> TextTokenizer:
        """Load ``tokenizer.json`` (and ``tokenizer_config.json`` if present) from ``folder``.

        ``kind`` is ``"clip"``, ``"hf"`` or ``"auto"``: clip when the vocabulary has
        ``<|startoftext|>`` and ``<|endoftext|>``, else hf.
        """
        if kind not in KINDS:
            raise ValueError(f"tokenizer kind must be one of {KINDS}, not {kind!r}")
        if context_length < 1:
            raise ValueError(f"context length must be positive, not {context_length}")
        folder = Path(folder)
        tok = _load_tokenizer(folder / TOKENIZER_FILE)
        config = _load_config(folder / CONFIG_FILE)
        start_id, end_id = tok.token_to_id(START_TOKEN), tok.token_to_id(END_TOKEN)
        if kind == "auto":
            kind = "clip" if start_id is not None and end_id is not None else "hf"

        if kind == "clip":
            if start_id is None or end_id is None:
                raise ClipDeskError(
                    f"{folder / TOKENIZER_FILE} is not a CLIP tokenizer: "
                    f"it has no {START_TOKEN} or {END_TOKEN} token"
                )
            # The text arrives cleaned exactly as open_clip cleans it, so no normalizer (NFC
            # after lower-casing can differ); open_clip's split; special tokens and framing
            # added by encode, and its own special-token names never matched in the text.
            tok.normalizer = None
            tok.pre_tokenizer = _clip_pre_tokenizer()
            tok.no_padding()
            tok.no_truncation()
            tok.encode_special_tokens = True
            return cls(tok, context_length, "clip", 0, start_id, end_id)

        pad_id = _pad_id(tok, config, folder)
        tok.enable_truncation(max_length=context_length)
        tok.enable_padding(length=context_length, pad_id=pad_id,
                           pad_token=tok.id_to_token(pad_id) or "[PAD]")
        return cls(tok, context_length, "hf", pad_id)

    @property
    def context_length(self) -> int:
        """Length of every row ``encode`` returns."""
        return self._context_length

    @property
    def end_token_id(self) -> int | None:
        """The end-of-text token id (clip kind; the text tower pools there), else None."""
        return self._end_id

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and attention mask, both int64 of shape (len(texts), context_length)."""
        if isinstance(texts, str):
            raise TypeError("encode takes a list of texts, not one string")
        if self.kind == "clip":
            return self._encode_clip(list(texts))
        encodings = self._tok.encode_batch(list(texts))
        shape = (len(encodings), self._context_length)
        ids = np.array([e.ids for e in encodings], dtype=np.int64).reshape(shape)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64).reshape(shape)
        return ids, mask

    def _encode_clip(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        length = self._context_length
        specials = {"<start_of_text>": self._start_id, "<end_of_text>": self._end_id}
        parts = [_open_clip_parts(clean_clip_text(text), specials) for text in texts]
        pieces = [part for text_parts in parts for part in text_parts if isinstance(part, str)]
        encoded = iter(self._tok.encode_batch(pieces, add_special_tokens=False))
        ids = np.zeros((len(texts), length), dtype=np.int64)
        mask = np.zeros((len(texts), length), dtype=np.int64)
        for row, text_parts in enumerate(parts):
            tokens = [self._start_id]
            for part in text_parts:
                tokens.extend(next(encoded).ids if isinstance(part, str) else [part])
            tokens.append(self._end_id)
            if len(tokens) > length:  # as open_clip: cut, then the end token goes last
                tokens = tokens[:length]
                tokens[-1] = self._end_id
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        return ids, mask


def clean_clip_text(text: str) -> str:
    """open_clip's SimpleTokenizer cleaning ("lower"): ftfy, unescape twice, whitespace, lower.

    Without ftfy, Unicode NFC stands in for ``ftfy.fix_text`` (which also fixes mojibake,
    curly quotes and full-width letters, so some texts then tokenize differently).
    """
    text = _fix_text()(text)
    text = html.unescape(html.unescape(text)).strip()
    return " ".join(text.split()).strip().lower()


def _open_clip_parts(text: str, specials: dict[str, int]) -> list[str | int]:
    """Cleaned text as open_clip's split sees it: text pieces, and ids of its special tokens.

    Two quirks of open_clip's split pattern, reproduced here:

    - It starts with ``<start_of_text>|<end_of_text>`` (open_clip's names for the start and
      end tokens), which become those ids. A name matches where a new piece starts: at the
      start, after a space, letter or digit, or right after another such name - not after
      other punctuation, which the greedy punctuation run swallows together with the ``<``.
    - It is compiled case-insensitive, so U+0345 (combining ypogegrammeni, a mark whose case
      variant is the letter iota) matches none of its classes and is skipped like a space.
    """
    text = text.replace("\u0345", " ")
    if "_of_text>" not in text:
        return [text]
    parts: list[str | int] = []
    start = 0
    for m in _OPEN_CLIP_SPECIALS.finditer(text):
        at = m.start()
        before = text[at - 1] if at else " "
        if at == start or before.isspace() or _letter_or_digit(before):
            if at > start:
                parts.append(text[start:at])
            parts.append(specials[m.group()])
            start = m.end()
    if start < len(text):
        parts.append(text[start:])
    return parts


@functools.cache
def _letter_or_digit_split() -> Any:
    from tokenizers import Regex, pre_tokenizers

    return pre_tokenizers.Split(Regex(r"[\p{L}\p{N}]"), behavior="removed", invert=True)


def _letter_or_digit(char: str) -> bool:
    """Whether ``char`` is a letter or a digit by the same Unicode tables as the pieces' split
    (Oniguruma's, in tokenizers): Python's own ``unicodedata`` is older (3.11: Unicode 14), so
    it takes a newer letter (CJK Extension H, say) for unassigned where the split does not."""
    return bool(_letter_or_digit_split().pre_tokenize_str(char))


_fix_text_fn: Callable[[str], str] | None = None


def _fix_text() -> Callable[[str], str]:
    global _fix_text_fn
    if _fix_text_fn is None:
        try:
            import ftfy

            _fix_text_fn = ftfy.fix_text
        except ImportError:
            _fix_text_fn = _nfc
    return _fix_text_fn


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _clip_pre_tokenizer() -> Any:
    from tokenizers import Regex, pre_tokenizers

    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )


def _load_tokenizer(path: Path) -> Any:
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise ClipDeskError(
            "the 'tokenizers' package is not installed; it is needed to tokenize text"
        ) from None
    if not path.is_file():
        raise ClipDeskError(f"tokenizer file missing: {path}")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as err:  # tokenizers raises plain Exception for bad files
        raise ClipDeskError(f"cannot read tokenizer file {path}: {_one_line(err)}") from err


def _load_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ClipDeskError(f"cannot read tokenizer config {path}: {_one_line(err)}") from err
    if not isinstance(config, dict):
        raise ClipDeskError(f"cannot read tokenizer config {path}: not a JSON object")
    return config


def _pad_id(tok: Any, config: dict[str, Any], folder: Path) -> int:
    """The pad token from tokenizer_config.json, else tokenizer.json's padding, else 0."""
    pad = config.get("pad_token")
    if isinstance(pad, dict):
        pad = pad.get("content")
    if isinstance(pad, str):
        pad_id = tok.token_to_id(pad)
        if pad_id is None:
            raise ClipDeskError(
                f"{folder / CONFIG_FILE} names pad token {pad!r}, which {TOKENIZER_FILE} lacks"
            )
        return pad_id
    if tok.padding is not None:
        return int(tok.padding["pad_id"])
    return 0


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__
