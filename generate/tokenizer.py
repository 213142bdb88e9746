"""Word-level tokenizer for kino-tiny, built once from the caption vocabulary.

The vocabulary is ``[PAD] [UNK] [BOS] [EOS]`` followed by the sorted caption
words of :mod:`generate.data`; it is saved with the weights (``tokenizer/``
subfolder, ``tokenizer.json``) so ids never change after training. Text is
lower-cased and split on whitespace/punctuation; any word outside the
vocabulary maps to ``[UNK]`` (the model is trained with some words dropped to
``[UNK]``, so unknown words are harmless), and every prompt is padded or
truncated to a fixed length.
"""

from __future__ import annotations

from typing import Iterable

from tokenizers import Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from tokenizers.processors import TemplateProcessing
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
MAX_LENGTH = 32


def build_vocab(words: Iterable[str] | None = None) -> dict[str, int]:
    if words is None:
        from .data import CAPTION_WORDS

        words = CAPTION_WORDS
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for w in sorted(set(w.lower() for w in words)):
        if w not in vocab:
            vocab[w] = len(vocab)
    return vocab


def build_tokenizer(words: Iterable[str] | None = None, max_length: int = MAX_LENGTH) -> PreTrainedTokenizerFast:
    """A fresh tokenizer (deterministic: same words -> same ids)."""
    vocab = build_vocab(words)
    tok = Tokenizer(WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = TemplateProcessing(
        single="[BOS] $A [EOS]",
        special_tokens=[("[BOS]", BOS_ID), ("[EOS]", EOS_ID)],
    )
    tok.enable_padding(pad_id=PAD_ID, pad_token="[PAD]", length=max_length)
    tok.enable_truncation(max_length=max_length)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        bos_token="[BOS]",
        eos_token="[EOS]",
        model_max_length=max_length,
    )


def encode(tokenizer, prompts: list[str], max_length: int = MAX_LENGTH):
    """Token ids [B, max_length] (torch.long), fixed length, [UNK] for unknown words."""
    out = tokenizer(
        list(prompts),
        padding="max_length",
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )
    return out["input_ids"]
