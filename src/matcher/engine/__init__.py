"""The engine: the one façade every interface calls, over its parts.

facade   Engine: catalogue, holders, accounts, matching; read-your-writes in one place
upkeep   IndexKeeper: filter arrays and vector index kept in step with the database
ranking  Ranker: filter, search, score, explain, for one or many profiles
lookalikes  LookAlikeFinder: live offers an offer resembles, duplicate pairs
caches   scored opportunities and embedded profile texts kept between queries
"""

from matcher.engine.facade import Engine, Health
from matcher.engine.upkeep import EMBED_BATCH, Progress, SyncReport

__all__ = ["EMBED_BATCH", "Engine", "Health", "Progress", "SyncReport"]
