"""What a French text says is absent: « pas de fournil », « sans logement », « aucun atelier ».

A negation cue (``pas``, ``sans``, ``aucun``, ``ni``, ``hors``) covers the noun group right
after it (« pas de logement de fonction »), never further than a preposition, a verb or a
punctuation mark. Two readings are not absences: « à deux pas de la place » (``pas`` without
``ne`` and not opening a clause) and « aucun dentiste n'exerce » (a negated subject says what
the place lacks, which is the offer's very need).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

CUES = frozenset({"pas", "sans", "aucun", "aucune", "ni", "hors"})
#: Words a negated noun group may contain without ending: articles and « de ».
_LINKS = frozenset({"de", "d", "du", "des", "le", "la", "les", "l", "un", "une"})
#: Words that end a negated group: prepositions, pronouns, auxiliaries, conjunctions.
_BOUNDARIES = frozenset(
    """
    a au aux avec chez dans en et est il elle ils elles je mais ne n on ou par pour qu que qui
    sont sur sous vers y ce c cela se s son sa ses leur leurs notre nos votre vos plus moins
    tres trop encore jamais toujours ici la-bas depuis entre
    """.split()  # noqa: SIM905
)
#: Content words a negated group holds at most (« droit d'entrée », « logement de fonction »).
MAX_WORDS = 3
_TOKEN = re.compile(r"[^\W\d_]+|\d+|[.;:!?()\n,«»\"]")


@dataclass(frozen=True)
class Negation:
    """One absence a text states: its words as written (« fournil ») and the phrase as written
    from the cue (« pas de fournil »), with the phrase's character span."""

    words: tuple[str, ...]
    phrase: str
    start: int
    end: int


def _fold(word: str) -> str:
    return unicodedata.normalize("NFKD", word.lower()).encode("ascii", "ignore").decode()


def _joined(text: str, start: int, end: int) -> bool:
    """Hyphen-joined to a word: « Pas-de-Calais », « sans-abri » are no negations."""
    return (start > 0 and text[start - 1] == "-") or (end < len(text) and text[end] == "-")


@lru_cache(maxsize=20_000)
def negations(text: str) -> tuple[Negation, ...]:
    """Every absence ``text`` states, in reading order."""
    tokens = [(m.group(), _fold(m.group()), m.start(), m.end()) for m in _TOKEN.finditer(text)]
    found: list[Negation] = []
    for i, (_, cue, start, end) in enumerate(tokens):
        if cue not in CUES or _joined(text, start, end):
            continue
        if cue == "pas" and not _negating_pas(tokens, i):
            continue
        words: list[tuple[str, int]] = []
        j = i + 1
        while j < len(tokens) and len(words) < MAX_WORDS:
            surface, folded, _, word_end = tokens[j]
            if not folded[0].isalnum() or folded in _BOUNDARIES or folded in CUES:
                break
            if folded not in _LINKS:
                words.append((surface.lower(), word_end))
            elif words and j + 1 < len(tokens) and tokens[j + 1][1] in _BOUNDARIES:
                break
            j += 1
        if not words:
            continue
        if j < len(tokens) and tokens[j][1] in {"ne", "n"}:
            continue  # « aucun dentiste n'exerce »: the subject is negated, not the offer's content
        last_end = words[-1][1]
        found.append(Negation(tuple(w for w, _ in words), text[start:last_end].lower(), start, last_end))
    return tuple(found)


def _negating_pas(tokens: list[tuple[str, str, int, int]], i: int) -> bool:
    """« pas » negates after « ne »/« n' » in its clause, or when it opens one (« Pas de
    logement »); otherwise it is a step (« à deux pas de »)."""
    if i == 0:
        return True
    for _, folded, _, _ in reversed(tokens[max(0, i - 4) : i]):
        if folded in {"ne", "n"} or not folded[0].isalnum():
            return True
    return False


def negated_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the negated words of ``text`` (the cue excluded)."""
    spans = []
    for negation in negations(text):
        cue_end = negation.start + len(negation.phrase.split()[0])
        spans.append((cue_end, negation.end))
    return spans
