"""Word-level tokenizer for kino-tiny, built once from the caption vocabulary.

The vocabulary is ``[PAD] [UNK] [BOS] [EOS]`` followed by the sorted caption
words of :mod:`scenes.procedural`; it is saved with the weights (``tokenizer/``
subfolder, ``tokenizer.json``) so ids never change after training. Text is
lower-cased and split on whitespace/punctuation; any word outside the
vocabulary maps to ``[UNK]`` (the model is trained with some words dropped to
``[UNK]``, so unknown words are harmless), and every prompt is padded or
truncated to a fixed length.

Phrase tokens (kino-tiny 0.4 on): each motion phrase that contains "left" or
"right" becomes one token (``sliding left`` -> ``sliding_left``). Why: as single
words, "left" and "right" say nothing about where things move. "right" is in
"sliding right" and "bouncing from left to right" (the object moves right), but
also in "bouncing from right to left" and "camera panning right" (things move
left). A model that reads words one at a time learns nothing from them, and
kino-tiny 0.3 had not learnt their context: for one seed, "sliding left" and
"sliding right" gave the same trajectory, while "up" and "down", unambiguous
words, were followed. The phrase ids come after all word ids, so the word ids
never change.
"""

from __future__ import annotations

from typing import Iterable

from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from tokenizers.processors import TemplateProcessing
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
MAX_LENGTH = 32

#: motion phrases whose direction words are ambiguous alone, and their tokens (fixed order: ids)
PHRASE_TOKENS: dict[str, str] = {
    "sliding left": "sliding_left",
    "sliding right": "sliding_right",
    "from left to right": "from_left_to_right",
    "from right to left": "from_right_to_left",
    "panning left": "panning_left",
    "panning right": "panning_right",
}


def build_vocab(words: Iterable[str] | None = None, phrases: bool = False) -> dict[str, int]:
    if words is None:
        from kinoseal.scenes.procedural import CAPTION_WORDS

        words = CAPTION_WORDS
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for w in [*sorted(set(w.lower() for w in words)), *(PHRASE_TOKENS.values() if phrases else ())]:
        if w not in vocab:
            vocab[w] = len(vocab)
    return vocab


def build_tokenizer(words: Iterable[str] | None = None, max_length: int = MAX_LENGTH,
                    phrases: bool = False) -> PreTrainedTokenizerFast:
    """A fresh tokenizer (deterministic: same words -> same ids); ``phrases`` adds the
    :data:`PHRASE_TOKENS` (their ids after every word's)."""
    vocab = build_vocab(words, phrases)
    tok = Tokenizer(WordLevel(vocab=vocab, unk_token="[UNK]"))
    # Replace runs after lower-casing; the pattern allows any whitespace between the words.
    merges = [normalizers.Replace(Regex(r"\b" + r"\s+".join(phrase.split()) + r"\b"), token)
              for phrase, token in PHRASE_TOKENS.items()] if phrases else []
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase(), *merges])
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


def has_phrase_tokens(tokenizer) -> bool:
    return all(t in tokenizer.get_vocab() for t in PHRASE_TOKENS.values())


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
