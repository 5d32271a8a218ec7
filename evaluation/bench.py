"""Speed at scale: build, match latency, filtered recall, memory, digest and candidates, and the peer.

    python -m evaluation.bench [--sizes 100000] [--holders N] [--candidate-holders N] [--json]
        [--out DIR]

One size by default (100,000 offers); several give several points of the sizes plot
(``--sizes 10000,100000,1000000``). Catalogues are synthetic (``evaluation.synthetic``),
recombined from ``data/opportunities.jsonl``, and stored and indexed in bulk, chunk by chunk.
Embedding 100,000 texts with USE on two cores takes hours, so the encoder's real throughput is
measured once on the sample texts (with a full re-embed of the sample through the engine,
``evaluation.build_share``), and the synthetic offers' vectors are computed exactly as
``embed_documents`` computes them (normalised mean of title and passage vectors) from a cache of
the sample's title and passage vectors: every synthetic text is one of them.

Query-side figures are given twice: with the holder's text encoded for real at each call (what
``Engine.match`` costs for a new profile), and with the query vectors answered from the cache
(the engine's own cost, what a known holder's stored vector gives). The peer pipeline
(``evaluation.peer``) answers the same queries; targets are in ``evaluation.targets``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import math
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from evaluation import DATA, DEFAULT_OUT, REPO, SHARED_COMMUNES, build_share, candidates, peer
from evaluation.bench_report import markdown, plot, print_tables
from evaluation.measures import percentiles, rss_mb, tied_hits
from evaluation.synthetic import (
    Communes,
    SyntheticCatalogue,
    load_holders,
    load_opportunities,
    recombined_records,
    record_number,
    synthetic_holders,
)
from evaluation.targets import checks, definitions
from matcher.config import Settings
from matcher.domain import HolderProfile, Location, Opportunity, profile_text
from matcher.encoders import Encoder, embed_documents, load_encoder, passages
from matcher.engine import EMBED_BATCH, Engine
from matcher.filters import hard_filters
from matcher.intake import RawRecord, import_records, validate_opportunity

TODAY = date(2026, 11, 22)
DEFAULT_SIZES = (100_000,)
#: Records timed through ``import_records`` per size (it stores them one by one: slow at scale).
IMPORT_SAMPLE = 1000
#: Holders of the digest batch matched with their text encoded for real (the rest: cached vectors).
REAL_DIGEST_HOLDERS = 100
#: Offers new this week in the digest (at most the catalogue).
DIGEST_NEW_OFFERS = 1000
#: Sharing holders in the home while candidates are timed, and the offers they are timed for.
CANDIDATE_HOLDERS = 100_000
CANDIDATE_OFFERS = 50
#: Records validated and inserted at once: a million never sit in memory as domain objects.
BUILD_CHUNK = 20_000
#: The FAISS index comparison builds HNSW and IVF indexes too: hours at a million on two cores.
FAISS_COMPARISON_MAX = 100_000
SELECTIVE_SHARE = 0.01


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the vector cache ------------------------------------------------------------------------


class PassageCache:
    """An Encoder answering from vectors already computed for exactly those texts.

    Document texts (titles, passages) are always answered from the table; query texts only while
    ``serve_queries`` is set. Anything else goes to the real encoder and is counted as a miss.
    """

    def __init__(self, encoder: Encoder):
        self.encoder = encoder
        self.identity = encoder.identity
        self.dim = encoder.dim
        self.documents: dict[str, np.ndarray] = {}
        self.queries: dict[str, np.ndarray] = {}
        self.serve_queries = False
        self.hits = 0
        self.misses = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        missing = []
        for i, text in enumerate(texts):
            vector = self.documents.get(text)
            if vector is None and self.serve_queries:
                vector = self.queries.get(text)
            if vector is None:
                missing.append(i)
            else:
                out[i] = vector
        if missing:
            out[missing] = self.encoder.encode([texts[i] for i in missing])
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        return out

    def learn(self, table: dict[str, np.ndarray], documents: list[tuple[str, str]], batch: int) -> float:
        """Embed the pieces of ``documents`` as ``embed_documents`` does, batch by batch; seconds taken."""
        pieces_done = 0
        start = time.perf_counter()
        for first in range(0, len(documents), batch):
            pieces: list[str] = []
            for title, body in documents[first : first + batch]:
                parts = [title, *passages(body)] if title else passages(body)
                pieces.extend(p for p in (parts or [title or " "]) if p not in table)
            pieces = list(dict.fromkeys(pieces))
            if pieces:
                table.update(zip(pieces, self.encoder.encode(pieces), strict=True))
            pieces_done += len(pieces)
        return time.perf_counter() - start


@dataclass
class Sample:
    offers: list[Opportunity]
    holders: list[HolderProfile]
    communes: Communes
    cache: PassageCache
    throughput: dict[str, float] = field(default_factory=dict)
    #: A full re-embed of the sample through the engine against the encoder alone.
    build: dict[str, Any] = field(default_factory=dict)
    peer: peer.Peer | None = None
    peer_note: str = ""


def prepare(encoder: Encoder, offers_path: Path, holders_path: Path) -> Sample:
    """Load the sample, measure the encoder on it and keep every vector for the synthetic offers."""
    offers = load_opportunities(offers_path)
    holders = load_holders(holders_path)
    departments = {o.location.department for o in offers}
    if SHARED_COMMUNES.exists():
        communes = Communes.from_csv(SHARED_COMMUNES, departments)
    else:
        log("table des communes absente : les offres restent dans les communes de l'échantillon")
        communes = Communes.from_offers(offers)
    cache = PassageCache(encoder)
    documents = [o.document() for o in offers]
    log(f"réencodage des {len(offers)} offres de l'échantillon par le moteur, puis par l'encodeur seul…")
    built, vectors = build_share.measure(encoder, offers)
    cache.documents.update(vectors)
    cache.learn(cache.documents, documents, EMBED_BATCH)  # archived offers: the engine skips them
    queries = [("", profile_text(h)) for h in holders]
    query_seconds = cache.learn(cache.queries, queries, EMBED_BATCH)
    single = []
    for _, text in queries[:20]:
        start = time.perf_counter()
        embed_documents(encoder, [("", text)])
        single.append((time.perf_counter() - start) * 1000)
    throughput = {
        "documents": len(documents),
        "document_texts": len(cache.documents),
        "texts_per_s": built["encoder_texts_per_s"],
        "opportunities_per_s": built["encoder_offers_per_s"],
        "holder_queries_per_s": round(len(queries) / query_seconds, 1),
        "single_query_p50_ms": round(float(np.median(single)), 1),
    }
    log(
        f"encodeur {encoder.identity} : {throughput['texts_per_s']} textes/s, "
        f"{throughput['opportunities_per_s']} offres/s, "
        f"requête seule {throughput['single_query_p50_ms']} ms; "
        f"construction par le moteur {built['engine_offers_per_s']} offres/s "
        f"(part du débit de l'encodeur : {built['build_encoder_share']})"
    )
    sample = Sample(offers, holders, communes, cache, throughput, built)
    try:
        sample.peer = peer.Peer(peer.load_model(), offers)
        log(f"pair MiniLM : {len(sample.peer.piece_ids)} textes encodés en {sample.peer.encode_s:.1f} s")
    except peer.PeerUnavailable as error:
        sample.peer_note = str(error)
        log(f"pair MiniLM non mesuré : {error}")
    return sample


# --- building a catalogue --------------------------------------------------------------------


def build(
    settings: Settings, records: Iterator[dict[str, Any]], cache: PassageCache
) -> tuple[Engine, dict[str, float]]:
    """Store the catalogue in bulk, then let ``Engine.refresh`` embed, index and build the filters.

    Records are validated as on import, then inserted ``BUILD_CHUNK`` at a time in multi-row
    statements with the store's own column mapping (``matcher import`` stores them one by one:
    see ``import_rate``); each chunk's domain objects are dropped before the next is made.
    """
    engine = Engine(settings, encoder=cache)
    validate_s = insert_s = 0.0
    done = 0
    while chunk := list(islice(records, BUILD_CHUNK)):
        start = time.perf_counter()
        opportunities = [validate_opportunity(r, f"ligne {done + i + 1}", None) for i, r in enumerate(chunk)]
        validated = time.perf_counter()
        engine.store.catalogue.bulk_insert(opportunities)
        insert_s += time.perf_counter() - validated
        validate_s += validated - start
        done += len(chunk)
        del chunk, opportunities
    inserted = time.perf_counter()
    engine.refresh()
    refreshed = time.perf_counter()
    engine.save_index()
    saved = time.perf_counter()
    return engine, {
        "validate_s": round(validate_s, 2),
        "insert_s": round(insert_s, 2),
        "refresh_s": round(refreshed - inserted, 2),
        "save_s": round(saved - refreshed, 2),
    }


def import_rate(records: list[dict[str, Any]], cache: PassageCache) -> float:
    """Records per second through ``import_records`` (what ``matcher import`` does) into an empty home."""
    with tempfile.TemporaryDirectory(prefix="matcher-bench-import-") as home:
        engine = Engine(Settings(home=Path(home)), encoder=cache)
        raw = [RawRecord(f"ligne {i + 1}", r) for i, r in enumerate(records)]
        start = time.perf_counter()
        report = import_records(engine.store, None, "opportunities", raw)
        seconds = time.perf_counter() - start
        engine.close()
    if report.rejected:
        raise RuntimeError(f"synthetic records rejected: {report.rejected[:3]}")
    return len(records) / seconds


# --- query sets ------------------------------------------------------------------------------


def unconstrained(holder: HolderProfile) -> HolderProfile:
    """The holder's project and soft preferences, without any hard constraint."""
    return holder.model_copy(
        update={"kinds": [], "departments": [], "origin": None, "max_distance_km": None, "budget_eur": None}
    )


def selective_profiles(
    engine: Engine, holders: list[HolderProfile], count: int, rng: np.random.Generator
) -> tuple[list[HolderProfile], list[float]]:
    """Profiles letting under 1% of the catalogue through: one department, one kind, a small radius."""
    a = engine.view.arrays
    live = np.flatnonzero((a["status"] == "published") & ~(a["expires_on"] < _day(TODAY)))
    total = len(a["row_id"])
    profiles, shares = [], []
    for i in range(count):
        at = int(live[int(rng.integers(len(live)))])
        raw = holders[i % len(holders)].model_dump(mode="json", exclude_none=True)
        origin = Location(lat=float(a["lat"][at]), lon=float(a["lon"][at]), department=a["department"][at])
        raw.update(
            kinds=[a["kind"][at]],
            departments=[a["department"][at]],
            origin=origin.model_dump(exclude_none=True),
            budget_eur=None,
        )
        radius = 40.0
        while True:
            raw["max_distance_km"] = radius
            profile = HolderProfile.model_validate(raw)
            share = int(hard_filters(profile, engine.view, TODAY).passing.sum()) / total
            if share < SELECTIVE_SHARE or radius <= 2:
                break
            radius /= 2
        profiles.append(profile)
        shares.append(share)
    return profiles, shares


def _day(day: date) -> float:
    return float(day.toordinal() - date(1970, 1, 1).toordinal())


def time_matches(engine: Engine, profiles: list[HolderProfile], warmup: int = 3) -> list[float]:
    for profile in profiles[:warmup]:
        engine.match(profile, today=TODAY)
    timings = []
    for profile in profiles:
        start = time.perf_counter()
        engine.match(profile, top=10, today=TODAY)
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def filtered_recall(engine: Engine, profiles: list[HolderProfile], k: int = 10) -> dict[str, Any]:
    """Recall@k of the index's filtered search against exact brute force over the passing vectors."""
    recalls, empty = [], 0
    queries = embed_documents(engine.encoder, [("", profile_text(p)) for p in profiles])
    for profile, query in zip(profiles, queries, strict=True):
        allowed = hard_filters(profile, engine.view, TODAY).allowed_row_ids
        allowed = np.asarray([r for r in allowed.tolist() if r in engine.index.hashes], dtype=np.int64)
        wanted = min(k, len(allowed))
        if wanted == 0:
            empty += 1
            continue
        _, found = engine.index.search(query[None, :], k, allowed=allowed)
        found = found[0][found[0] >= 0][:wanted]
        exact = engine.index.vectors(allowed) @ query
        threshold = np.sort(exact)[::-1][wanted - 1]
        # Positions in ``allowed`` of what the index returned; anything outside it counts as a miss.
        inside = found[np.isin(found, allowed)]
        hits = tied_hits(exact, np.searchsorted(allowed, inside), threshold) if len(inside) else 0
        recalls.append(hits / wanted)
    return {"recall": float(np.mean(recalls)) if recalls else None, "empty": empty}


def digest_rate(
    engine: Engine, holders: list[HolderProfile], among: set[str], repeat: int = 1
) -> tuple[float, float]:
    """(holders per second, mean matches per holder) of ``match_many`` restricted to ``among``."""
    start = time.perf_counter()
    matched = 0
    for _ in range(repeat):
        results = engine.match_many(holders, top=10, today=TODAY, among=among)
        matched += sum(len(r.matches) for r in results)
    seconds = time.perf_counter() - start
    return repeat * len(holders) / seconds, matched / (repeat * len(holders))


# --- FAISS index types -----------------------------------------------------------------------


def faiss_comparison(
    engine: Engine, queries: np.ndarray, filtered: list[tuple[np.ndarray, np.ndarray]], k: int = 10
) -> list[dict[str, Any]]:
    """Flat vs HNSW vs IVF vs 8-bit scalar quantisation over the engine's own vectors.

    ``filtered`` holds (query vector, allowed positions) pairs; ids are positions in the matrix.
    """
    import faiss

    row_ids = np.fromiter(sorted(engine.index.hashes), dtype=np.int64)
    vectors = np.ascontiguousarray(engine.index.vectors(row_ids))
    n, dim = vectors.shape
    exact = (vectors @ queries.T).T
    truth = np.argsort(-exact, axis=1)[:, :k]

    def make_flat() -> Any:
        return faiss.IndexFlatIP(dim)

    def make_sq8() -> Any:
        return faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)

    def make_hnsw() -> Any:
        index = faiss.IndexHNSWFlat(dim, 16, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 40
        return index

    nlist = max(16, int(4 * math.sqrt(n)) // 16 * 16)

    def make_ivf() -> Any:
        return faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)

    def params(name: str, selector: Any = None) -> Any:
        if name.startswith("hnsw"):
            return faiss.SearchParametersHNSW(sel=selector, efSearch=128)
        if name.startswith("ivf"):
            return faiss.SearchParametersIVF(sel=selector, nprobe=16)
        return faiss.SearchParameters(sel=selector)

    kinds: dict[str, Callable[[], Any]] = {
        "flat (exact)": make_flat,
        "sq8": make_sq8,
        "hnsw16 ef128": make_hnsw,
        f"ivf{nlist} nprobe16": make_ivf,
    }
    rows = []
    rng = np.random.default_rng(0)
    for name, make in kinds.items():
        start = time.perf_counter()
        index = make()
        if not index.is_trained:
            index.train(vectors[rng.choice(n, size=min(n, 40 * nlist), replace=False)])
        index.add(vectors)
        build_s = time.perf_counter() - start
        plain_ms, hits = [], 0
        for qi in range(len(queries)):
            start = time.perf_counter()
            _, found = index.search(queries[qi : qi + 1], k, params=params(name))
            plain_ms.append((time.perf_counter() - start) * 1000)
            hits += tied_hits(exact[qi], found[0], exact[qi][truth[qi][-1]])
        filtered_ms, recalls = [], []
        for query, allowed in filtered:
            if len(allowed) == 0:
                continue
            mask = np.zeros(n, dtype=bool)
            mask[allowed] = True
            bitmap = np.packbits(mask, bitorder="little")
            selector = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))
            start = time.perf_counter()
            _, found = index.search(query[None, :], k, params=params(name, selector))
            filtered_ms.append((time.perf_counter() - start) * 1000)
            scores = vectors @ query
            wanted = min(k, len(allowed))
            threshold = np.sort(scores[allowed])[::-1][wanted - 1]
            returned = found[0][(found[0] >= 0) & np.isin(found[0], allowed)][:wanted]
            recalls.append(tied_hits(scores, returned, threshold) / wanted)
        rows.append(
            {
                "index": name,
                "build_s": round(build_s, 2),
                "memory_mb": round(len(faiss.serialize_index(index)) / 2**20, 1),
                "p50_ms": round(float(np.percentile(plain_ms, 50)), 2),
                "p95_ms": round(float(np.percentile(plain_ms, 95)), 2),
                "recall_at_10": round(hits / (k * len(queries)), 3),
                "filtered_p95_ms": round(float(np.percentile(filtered_ms, 95)), 2) if filtered_ms else None,
                "filtered_recall_at_10": round(float(np.mean(recalls)), 3) if recalls else None,
            }
        )
        log(f"  faiss {name}: {rows[-1]}")
        del index
    return rows


# --- a serving process -----------------------------------------------------------------------


def make_encoder(threads: int | None) -> Encoder:
    """The shipped encoder; with ``threads``, FAISS and USE both limited to that many threads."""
    if threads is None:
        return load_encoder("usem3")
    import faiss

    from matcher.encoders import UniversalSentenceEncoder

    faiss.omp_set_num_threads(threads)
    return UniversalSentenceEncoder(threads=threads)


def serve(home: Path, threads: int | None) -> dict[str, float]:
    """In a fresh process: open a built home as the service would, match a few profiles, report."""
    start = time.perf_counter()
    engine = Engine(Settings(home=home), encoder=make_encoder(threads))
    report = engine.refresh()
    if report.embedded:
        raise RuntimeError(f"the saved index was not reused: {report}")
    loaded = time.perf_counter()
    for holder in load_holders(DATA / "holders.jsonl")[:5]:
        engine.match(holder, today=TODAY)
    engine.close()
    return {"serving_rss_mb": round(rss_mb(), 1), "serving_load_s": round(loaded - start, 2)}


def serving_process(home: Path, threads: int | None) -> dict[str, float]:
    """Resident memory of a separate process that loads the home and answers matches.

    The benchmark's own process holds the synthetic records and every other size's leftovers, so
    its RSS says little; a fresh process measures what serving this catalogue costs.
    """
    command = [sys.executable, "-m", "evaluation.bench", "--serve", str(home)]
    if threads is not None:
        command.append(f"--threads={threads}")
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"serving process failed: {done.stderr[-2000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return {"rss_mb": figures["serving_rss_mb"], "serving_load_s": figures["serving_load_s"]}


# --- one size --------------------------------------------------------------------------------


@dataclass
class Options:
    sizes: list[int]
    holders: int = 1000
    queries: int = 100
    seed: int = 0
    import_sample: int = IMPORT_SAMPLE
    threads: int | None = None
    faiss: bool = True
    profile_dir: Path | None = None
    digest_new_offers: int = DIGEST_NEW_OFFERS
    candidate_holders: int = CANDIDATE_HOLDERS
    candidate_offers: int = CANDIDATE_OFFERS
    #: Seconds of timed ``candidates`` calls after which fewer than ``candidate_offers`` suffice.
    candidates_budget_s: float = 120.0


def _profiled(options: Options, name: str, action: Callable[[], Any]) -> Any:
    """Run ``action``, under cProfile when asked; the 30 heaviest functions go to a text file."""
    if options.profile_dir is None:
        return action()
    profiler = cProfile.Profile()
    result = profiler.runcall(action)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(30)
    options.profile_dir.mkdir(parents=True, exist_ok=True)
    (options.profile_dir / f"profile-{name}.txt").write_text(text.getvalue())
    return result


@dataclass
class Stream:
    """What the benchmark keeps of a catalogue while its records stream into the store."""

    tally: SyntheticCatalogue = field(default_factory=lambda: SyntheticCatalogue([]))
    #: The first records (for ``import_rate``) and the ids of the newest (the digest's new offers).
    first: list[dict[str, Any]] = field(default_factory=list)
    newest: deque[str] = field(default_factory=deque)
    recipes: peer.Recipes | None = None
    seconds: float = 0.0

    def records(
        self, sample: Sample, size: int, seed: int, keep_first: int, keep_newest: int
    ) -> Iterator[dict[str, Any]]:
        self.newest = deque(maxlen=max(1, keep_newest))
        self.recipes = peer.Recipes() if sample.peer is not None else None
        made = recombined_records(sample.offers, size, seed, sample.communes, self.tally)
        while True:
            start = time.perf_counter()
            record = next(made, None)
            if record is None:
                return
            if len(self.first) < keep_first:
                self.first.append(record)
            self.newest.append(record["id"])
            if self.recipes is not None and sample.peer is not None:
                self.recipes.add(sample.peer.recipe(record))
            self.seconds += time.perf_counter() - start
            yield record


def run_size(size: int, sample: Sample, options: Options) -> dict[str, Any]:
    """Every figure for one catalogue size."""
    rng = np.random.default_rng(options.seed + size)
    cache = sample.cache
    home = Path(tempfile.mkdtemp(prefix=f"matcher-bench-{size}-"))
    result: dict[str, Any] = {"size": size}
    try:
        gc.collect()
        rss_before = rss_mb()
        log(f"[{size}] construction…")
        stream = Stream()
        records = stream.records(
            sample, size, options.seed + size, min(size, options.import_sample), options.digest_new_offers
        )
        misses = cache.misses
        settings = Settings(home=home)
        engine, phases = _profiled(options, f"build-{size}", lambda: build(settings, records, cache))
        build_s = sum(phases.values())
        result.update(
            build_s=round(build_s, 2),
            build_per_s=round(size / build_s, 1),
            build_phases=phases,
            synthetic_records_s=round(stream.seconds, 2),
            indexed=len(engine.index),
            recombined_copies=stream.tally.copied,
            embedding_cache_misses=cache.misses - misses,
        )
        log(f"[{size}] construit en {build_s:.1f} s ({phases})")
        if stream.first:
            result["import_per_s"] = round(import_rate(stream.first, cache), 1)
            result["import_sample"] = len(stream.first)
            log(f"[{size}] import_records : {result['import_per_s']} offres/s ({len(stream.first)} offres)")

        holders = sample.holders
        plain = [unconstrained(holders[int(i)]) for i in rng.integers(len(holders), size=options.queries)]
        selective, shares = selective_profiles(engine, holders, options.queries, rng)
        result["selective_pass_share_max"] = round(max(shares), 5)
        result["selective_pass_share_median"] = round(float(np.median(shares)), 5)
        result.update(latencies(engine, cache, plain, selective, options, size))
        recall = filtered_recall(engine, selective)
        result["filtered_recall_at_10"] = None if recall["recall"] is None else round(recall["recall"], 4)
        result["filtered_queries_with_no_candidate"] = recall["empty"]
        result.update(peer_figures(engine, sample, stream, plain, selective, size))
        result.update(digest_figures(engine, sample, set(stream.newest), options, size))
        result["bench_process_rss_mb"] = round(rss_mb(), 1)
        result["bench_process_rss_growth_mb"] = round(result["bench_process_rss_mb"] - rss_before, 1)
        log(f"[{size}] mémoire d'un processus qui sert ce catalogue…")
        result.update(serving_process(home, options.threads))
        result.update(candidate_figures(engine, sample, options, rng, size))
        if options.faiss and size == max(options.sizes) and 10_000 <= size <= FAISS_COMPARISON_MAX:
            log(f"[{size}] comparaison des index FAISS…")
            cache.serve_queries = True
            queries = embed_documents(cache, [("", profile_text(p)) for p in plain])
            row_ids = np.fromiter(sorted(engine.index.hashes), dtype=np.int64)
            filtered = []
            for profile in selective:
                allowed = hard_filters(profile, engine.view, TODAY).allowed_row_ids
                query = embed_documents(cache, [("", profile_text(profile))])[0]
                filtered.append((query, np.flatnonzero(np.isin(row_ids, allowed))))
            result["faiss"] = faiss_comparison(engine, queries, filtered)
        cache.serve_queries = False
        engine.close()
        log(f"[{size}] {json.dumps({k: v for k, v in result.items() if k != 'faiss'}, ensure_ascii=False)}")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return result


def latencies(
    engine: Engine,
    cache: PassageCache,
    plain: list[HolderProfile],
    selective: list[HolderProfile],
    options: Options,
    size: int,
) -> dict[str, float]:
    """Match latencies with the query encoded for real, then answered from the cache."""
    cache.serve_queries = False
    log(f"[{size}] latences (encodage réel de la requête)…")
    real = percentiles(time_matches(engine, plain))
    real_filtered = percentiles(time_matches(engine, selective))
    cache.serve_queries = True
    log(f"[{size}] latences (vecteur de requête en cache)…")
    cached = percentiles(_profiled(options, f"match-{size}", lambda: time_matches(engine, plain)))
    cached_filtered = percentiles(time_matches(engine, selective))
    cache.serve_queries = False
    return {
        "p50_ms": real["p50"],
        "p95_ms": real["p95"],
        "p99_ms": real["p99"],
        "filtered_p50_ms": real_filtered["p50"],
        "filtered_p95_ms": real_filtered["p95"],
        "filtered_p99_ms": real_filtered["p99"],
        "cached_query_p50_ms": cached["p50"],
        "cached_query_p95_ms": cached["p95"],
        "cached_query_filtered_p95_ms": cached_filtered["p95"],
    }


def peer_figures(
    engine: Engine,
    sample: Sample,
    stream: Stream,
    plain: list[HolderProfile],
    selective: list[HolderProfile],
    size: int,
) -> dict[str, Any]:
    """The peer on the same catalogue (its ids follow the engine's catalogue order) and queries."""
    if sample.peer is None or stream.recipes is None:
        return dict.fromkeys(peer.PEER_KEYS)
    log(f"[{size}] le pair (MiniLM + IndexFlatIP + post-filtrage)…")
    ids = engine.view.arrays["id"]
    numbers = np.fromiter((record_number(i) for i in ids.tolist()), dtype=np.int64, count=len(ids))
    start = time.perf_counter()
    index = sample.peer.index(stream.recipes, numbers)
    built = time.perf_counter() - start
    figures = peer.measure(sample.peer, index, engine, plain, selective, TODAY)
    del index
    return {**figures, "peer_index_s": round(built, 2)}


def digest_figures(
    engine: Engine, sample: Sample, newest: set[str], options: Options, size: int
) -> dict[str, Any]:
    """``match_many`` over the digest's holders among this week's new offers."""
    ids = engine.view.arrays["id"]
    among = set(ids[np.isin(ids, list(newest))].tolist())  # no set of a million ids
    digest_holders = synthetic_holders(sample.holders, options.holders, seed=options.seed)
    log(f"[{size}] digest : {len(digest_holders)} porteurs, {len(among)} offres nouvelles…")
    cache = sample.cache
    cache.serve_queries = True
    cached_rate, per_holder = _profiled(
        options, f"digest-{size}", lambda: digest_rate(engine, digest_holders, among)
    )
    cache.serve_queries = False
    real_rate, _ = digest_rate(engine, digest_holders[:REAL_DIGEST_HOLDERS], among)
    return {
        "digest_holders_per_s": round(real_rate, 1),
        "digest_cached_query_holders_per_s": round(cached_rate, 1),
        "digest_matches_per_holder": round(per_holder, 2),
        "digest_new_offers": len(newest),
        "digest_among": len(among),
    }


def candidate_figures(
    engine: Engine, sample: Sample, options: Options, rng: np.random.Generator, size: int
) -> dict[str, Any]:
    """``Engine.candidates`` for offers of the catalogue, in a home holding many sharing holders."""
    if options.candidate_holders <= 0:
        return {"candidate_holders": 0, "candidates_p95_ms": None}
    log(f"[{size}] {options.candidate_holders} porteurs qui partagent leur profil…")
    start = time.perf_counter()
    stored = candidates.store_holders(
        engine, candidates.sharing_holders(sample.holders, options.candidate_holders, seed=options.seed)
    )
    stored_s = time.perf_counter() - start
    a = engine.view.arrays
    live = np.flatnonzero((a["status"] == "published") & ~(a["expires_on"] < _day(TODAY)))
    chosen = rng.choice(live, size=min(len(live), options.candidate_offers), replace=False)
    log(f"[{size}] candidates pour {len(chosen)} offres…")
    cache = sample.cache
    cache.serve_queries = True
    misses = cache.misses
    figures = candidates.time_candidates(
        engine, [str(a["id"][i]) for i in chosen], top=20, budget_s=options.candidates_budget_s
    )
    cache.serve_queries = False
    return {
        "candidate_holders": stored,
        "candidate_holders_store_s": round(stored_s, 2),
        **figures,
        "candidates_cache_misses": cache.misses - misses,
    }


def run(encoder: Encoder, options: Options, offers_path: Path, holders_path: Path) -> dict[str, Any]:
    started = time.perf_counter()
    before = machine()
    sample = prepare(encoder, offers_path, holders_path)
    results = []
    for size in sorted(options.sizes):
        results.append(run_size(size, sample, options))
        gc.collect()
    report: dict[str, Any] = {
        "results": results,
        "encoder": {"identity": encoder.identity, **sample.throughput},
        "build_encoder": sample.build,
        "build_encoder_share": sample.build["build_encoder_share"],
        "peer": peer_description(sample),
        "machine": {**before, "load_average_1m_at_end": machine()["load_average_1m"]},
        "wall_s": round(time.perf_counter() - started, 1),
        "threads": options.threads,
        "build_chunk": BUILD_CHUNK,
        "real_digest_holders": REAL_DIGEST_HOLDERS,
    }
    report["targets"] = definitions(report)
    report["target_checks"] = checks(report)
    return report


def peer_description(sample: Sample) -> dict[str, Any]:
    if sample.peer is None:
        return {"available": False, "note": sample.peer_note}
    return {
        "available": True,
        "model": "all-MiniLM-L6-v2",
        "window": sample.peer.window,
        "fetched": peer.FETCHED,
        "pieces": len(sample.peer.piece_ids),
        "encode_s": round(sample.peer.encode_s, 1),
    }


def code_version() -> str:
    """The commit measured, and whether the core had uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO, check=True
        ).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "--", "src"], cwd=REPO, check=False).returncode
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}{' + uncommitted changes in src/' if dirty else ''}"


def machine() -> dict[str, Any]:
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "code": code_version(),
        "python": platform.python_version(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="catalogue sizes: 10000,100000,1000000"
    )
    parser.add_argument("--holders", type=int, default=1000, help="holders in the digest batch")
    parser.add_argument(
        "--digest-new-offers", type=int, default=DIGEST_NEW_OFFERS, help="offers new this week in the digest"
    )
    parser.add_argument(
        "--candidate-holders",
        type=int,
        default=CANDIDATE_HOLDERS,
        help="holders sharing their profile while candidates are timed (0: skip candidates)",
    )
    parser.add_argument(
        "--candidate-offers", type=int, default=CANDIDATE_OFFERS, help="offers candidates are timed for"
    )
    parser.add_argument("--queries", type=int, default=100, help="timed queries per kind and size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--import-sample", type=int, default=IMPORT_SAMPLE, help="records timed through import_records"
    )
    parser.add_argument("--no-faiss", action="store_true", help="skip the FAISS index comparison")
    parser.add_argument("--profile", action="store_true", help="write cProfile summaries to --out")
    parser.add_argument("--opportunities", type=Path, default=DATA / "opportunities.jsonl")
    parser.add_argument("--sample-holders", type=Path, default=DATA / "holders.jsonl")
    parser.add_argument(
        "--threads",
        type=int,
        help="FAISS and encoder threads (default: the shipped settings, FAISS using every core)",
    )
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # child process: see serving_process
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error("--sizes : des entiers séparés par des virgules")
    if not sizes or min(sizes) < 10:
        parser.error("--sizes : au moins 10 offres par taille")
    options = Options(
        sizes=sizes,
        holders=args.holders,
        queries=args.queries,
        seed=args.seed,
        import_sample=args.import_sample,
        threads=args.threads,
        faiss=not args.no_faiss,
        profile_dir=args.out if args.profile else None,
        digest_new_offers=args.digest_new_offers,
        candidate_holders=args.candidate_holders,
        candidate_offers=args.candidate_offers,
    )
    if args.serve:
        print(json.dumps(serve(args.serve, args.threads)))
        return 0
    encoder = make_encoder(args.threads)
    report = run(encoder, options, args.opportunities, args.sample_holders)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.md").write_text(markdown(report), encoding="utf-8")
    (args.out / "bench.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    plot(report, args.out / "bench.png")
    print_tables(report, to_stderr=args.json)
    if args.json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
    else:
        print(f"rapport : {args.out / 'bench.md'}, {args.out / 'bench.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
