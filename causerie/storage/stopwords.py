"""Words too common in English and French to tell passages apart.

A question's keywords are OR-ed; left in, a word like "le" or "the" makes every passage that
holds it a keyword hit, and in a small set of files (one chat's) such a hit can outrank, after
rank fusion, the passage the question is about. They are dropped from a document search's
keywords unless the question holds nothing else.
"""

from __future__ import annotations

ENGLISH = """
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its itself
just me more most my myself no nor not now of off on once only or other our ours ourselves out
over own same she should so some such than that the their theirs them themselves then there
these they this those through to too under until up very was we were what when where which
while who whom why will with would you your yours yourself yourselves
"""
FRENCH = """
à au aux avec ce ces cet cette comme dans de des du elle elles en est et eux il ils je la le
les leur leurs lui ma mais me même mes moi mon ne nos notre nous on ou où par pas pour qu que
quel quelle quelles quels qui sa sans se ses son sont sur ta te tes toi ton tu un une vos
votre vous y c d j l m n s t est-ce quand comment combien pourquoi était été être avoir a ont
"""
STOP_WORDS = frozenset((ENGLISH + FRENCH).split())


def meaningful(terms: list[str]) -> list[str]:
    """``terms`` without the stop words, or all of them if nothing else is left."""
    kept = [term for term in terms if term not in STOP_WORDS]
    return kept or terms
