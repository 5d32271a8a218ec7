"""The benchmark's report: the markdown page, the sizes plot and the terminal tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evaluation.targets import ENCODER_P50

COLUMNS = (
    ("size", "catalogue"),
    ("build_per_s", "build opp/s"),
    ("import_per_s", "import_records opp/s"),
    ("p50_ms", "p50 ms"),
    ("p95_ms", "p95 ms"),
    ("p99_ms", "p99 ms"),
    ("filtered_p95_ms", "filtered p95 ms"),
    ("cached_query_p95_ms", "p95 ms, cached query"),
    ("cached_query_filtered_p95_ms", "filtered p95 ms, cached query"),
    ("filtered_recall_at_10", "filtered recall@10"),
    ("rss_mb", "RSS MB"),
    ("serving_load_s", "load s"),
    ("digest_holders_per_s", "digest holders/s"),
    ("digest_cached_query_holders_per_s", "digest holders/s, cached queries"),
    ("candidates_p95_ms", "candidates p95 ms"),
)
PEER_COLUMNS = (
    ("size", "catalogue"),
    ("p95_ms", "ours: p95 ms"),
    ("peer_p95_ms", "peer: p95 ms"),
    ("filtered_p95_ms", "ours: filtered p95 ms"),
    ("peer_filtered_p95_ms", "peer: filtered p95 ms"),
    ("filtered_recall_at_10", "ours: filtered recall@10"),
    ("peer_filtered_recall_at_10", "peer: filtered recall@10"),
    ("peer_short_lists", "peer: short filtered lists"),
)
#: The terminal's table: few columns, short titles (a console is 80 characters wide).
TERMINAL_COLUMNS = (
    ("size", "offers"),
    ("p50_ms", "p50"),
    ("p95_ms", "p95"),
    ("filtered_p95_ms", "filt. p95"),
    ("cached_query_p95_ms", "cached p95"),
    ("peer_p95_ms", "peer p95"),
    ("filtered_recall_at_10", "recall"),
    ("rss_mb", "RSS MB"),
    ("digest_holders_per_s", "digest/s"),
    ("candidates_p95_ms", "cand. p95"),
)


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 10 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _met(check: dict[str, Any]) -> str:
    return {True: "yes", False: "NO", None: "n/a"}[check["met"]]


def _wanted(check: dict[str, Any], report: dict[str, Any], short: bool = False) -> str:
    """« <= 20.8 (1.6 × encoder.single_query_p50_ms = 13) », or the plain threshold; ``short``
    names the encoder's figure « encoder p50 »."""
    if check["wanted"] is None:
        return f"{check['rule']} (not measured)"
    if " × " not in check["rule"]:
        return f"{check['op']} {_cell(check['wanted'])}"
    factor, of = check["rule"].split(" ", 1)[1].split(" × ")
    reference = (
        report["encoder"].get(of.removeprefix("encoder."))
        if of == ENCODER_P50
        else next((r.get(of) for r in report["results"] if r["size"] == check["size"]), None)
    )
    name = "encoder p50" if short and of == ENCODER_P50 else of
    return f"{check['op']} {_cell(check['wanted'])} ({factor} × {name} = {_cell(reference)})"


def _scope(check: dict[str, Any]) -> str:
    return "the run" if check["size"] is None else f"{check['size']:,}"


def _table(columns: tuple[tuple[str, str], ...], results: list[dict[str, Any]]) -> list[str]:
    lines = ["| " + " | ".join(title for _, title in columns) + " |", "|" + "---:|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(key)) for key, _ in columns) + " |" for r in results]
    return lines


def markdown(report: dict[str, Any]) -> str:
    results, enc, m, build = report["results"], report["encoder"], report["machine"], report["build_encoder"]
    lines = [
        "# Benchmarks",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}; load average (1 min) "
        f"{m['load_average_1m']} at start, {m['load_average_1m_at_end']} at end"
        + (
            " (above the core count: other work shared the CPUs, timings are pessimistic)"
            if max(m["load_average_1m"], m["load_average_1m_at_end"]) > (m["cores"] or 1)
            else ""
        )
        + f". Encoder `{enc['identity']}`. "
        f"Whole run: {report['wall_s']} s. Code: {m['code']}. Threads: "
        + (
            "the shipped settings (USE 2, FAISS all cores)"
            if report.get("threads") is None
            else f"USE and FAISS limited to {report['threads']}"
        )
        + ".",
        "",
        "## Encoder throughput (real, measured on the sample texts)",
        "",
        f"- {enc['texts_per_s']} texts/s = {enc['opportunities_per_s']} opportunities/s "
        f"({enc['documents']} sample offers, {enc['document_texts']} distinct title and passage texts, "
        "the batches the engine's build gives the encoder, through `encoder.encode` alone).",
        f"- {enc['holder_queries_per_s']} holder profiles/s in batches; one profile alone: "
        f"{enc['single_query_p50_ms']} ms (median): the unit of the latency targets below.",
        "",
        "## Build bound by the encoder",
        "",
        f"`Engine.refresh(full=True)` over the {build['offers']} sample offers in a temporary home, "
        f"with the real encoder: {build['engine_offers_per_s']} offers/s ({build['engine_s']} s); "
        f"the same {build['batches']} batches ({build['pieces']} texts) through `encoder.encode` alone: "
        f"{build['encoder_offers_per_s']} offers/s ({build['encoder_s']} s). Share of the encoder's "
        f"throughput the build reaches: **{build['build_encoder_share']}** (target >= 0.9); the engine "
        f"spent {100 * build['encoding_share_of_engine_time']:.0f}% of its build inside the encoder.",
        "",
        "Building an index of N offers with real embeddings therefore takes at least "
        f"N / {enc['opportunities_per_s']} s of encoding on this machine; the build figures below "
        "exclude it: synthetic offers' vectors come from a cache of the sample's title and passage "
        "vectors, combined exactly as `embed_documents` combines them.",
        "",
        "## Results",
        "",
        *_table(COLUMNS, results),
        "",
        "- *p50/p95/p99, filtered p95*: `Engine.match(profile, top=10)` in process, warm index, the "
        "holder's text encoded for real at each call. *cached query*: the same with the query vector "
        "answered from a cache (what a known holder's stored vector gives).",
        "- *filtered*: one department + one kind + a radius around a real commune, shrunk until under "
        "1% of the catalogue passes (share passing, worst query: "
        + ", ".join(f"{r['size']:,}: {100 * r['selective_pass_share_max']:.2f}%" for r in results)
        + ").",
        "- *filtered recall@10*: the index's filtered search against an exact numpy ranking of the "
        "vectors of the ids that pass.",
        "- *build*: the catalogue's rows validated and stored in multi-row INSERTs of "
        f"{report['build_chunk']:,} (the store's column mapping), then `Engine.refresh` (vectors into "
        "FAISS, lexical model, filter arrays) and `save_index`; vectors from the cache, so the encoder's "
        "time is not in it (see above). *import_records*: the per-record path of `matcher import` "
        "(validation, one upsert and savepoint each), timed on the first records of the catalogue into "
        "an empty home.",
        "- *digest*: `Engine.match_many` over holders drawn from `data/holders.jsonl` (their own "
        "constraints) with `among` = the newest offers ("
        + ", ".join(f"{r['size']:,}: {r['digest_new_offers']:,}" for r in results)
        + f"); real query encoding on the first {report['real_digest_holders']} holders, cached query "
        "vectors on all of them.",
        "- *candidates*: `Engine.candidates(offer, top=20)` for offers drawn from the catalogue, in a "
        "home holding "
        + ", ".join(f"{r['size']:,}: {_cell(r.get('candidate_holders'))}" for r in results)
        + " holders who share their profile (recombined from `data/holders.jsonl`, project vectors "
        "from the cache), after one untimed first call.",
        "- *RSS*: resident memory of a fresh process that opens the built home as the service would "
        "(encoder, database, index and filter arrays loaded) and answers a few matches; *load s*: how "
        "long that process took to load the index and build the filter arrays (cold start).",
        "",
        "## The peer: MiniLM + IndexFlatIP + post-filtering",
        "",
    ]
    peer = report["peer"]
    if peer["available"]:
        lines += [
            f"English `{peer['model']}` (sentence-transformers), one vector per offer (title and "
            f"description, cut at the model's {peer['window']} word pieces), `faiss.IndexFlatIP`, then "
            f"the same hard filters over the top {peer['fetched']} it returns. Same catalogue, same "
            "queries; the holder's text encoded for real at each call. An offer's vector is the mean "
            f"of the model's vectors of its pieces inside the window ({peer['pieces']} sample pieces "
            f"encoded once, {peer['encode_s']} s). *Short filtered lists*: selective queries whose list "
            "has fewer than min(10, passing) offers; recall against brute force over the peer's own "
            "vectors of the offers that pass.",
            "",
            *_table(PEER_COLUMNS, results),
        ]
    else:
        lines.append(f"Not run: {peer['note']}.")
    lines += ["", "## Build phases (seconds)", ""]
    for r in results:
        phases = ", ".join(f"{k} {v}" for k, v in r["build_phases"].items())
        lines.append(f"- {r['size']:,}: total {r['build_s']} s — {phases}")
    lines += ["", "## Targets", "", "| target | size | wanted | reached | met |", "|---|---:|---|---:|---|"]
    for check in report["target_checks"]:
        lines.append(
            f"| {check['target']} | {_scope(check)} | {_wanted(check, report)} | "
            f"{_cell(check['reached'])} | {_met(check)} |"
        )
    if any("faiss" in r for r in results):
        r = next(r for r in results if "faiss" in r)
        lines += [
            "",
            f"## FAISS index types at {r['size']:,} offers",
            "",
            "Same vectors (the catalogue's), same queries; recall against exact search. Filtered: the "
            "selective queries above, with an ID selector inside the search (as the engine does).",
            "",
            "| index | build s | memory MB | p50 ms | p95 ms | recall@10 | filtered p95 ms | "
            "filtered recall@10 |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for f in r["faiss"]:
            lines.append(
                f"| {f['index']} | {f['build_s']} | {f['memory_mb']} | {f['p50_ms']} | {f['p95_ms']} | "
                f"{f['recall_at_10']} | {_cell(f['filtered_p95_ms'])} | {_cell(f['filtered_recall_at_10'])} |"
            )
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> None:
    """Latency and memory against catalogue size (log x), one point per size of the run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = report["results"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, label, style in (
        ("p50_ms", "p50, no filter", "-"),
        ("p95_ms", "p95, no filter", "-"),
        ("filtered_p95_ms", "p95, selective filter", "-"),
        ("cached_query_p95_ms", "p95, known holder (cached vector)", "-"),
        ("peer_p95_ms", "peer p95 (MiniLM + IndexFlatIP)", "--"),
        ("peer_filtered_p95_ms", "peer p95, selective filter", "--"),
    ):
        points = [(r["size"], r[key]) for r in results if r.get(key) is not None]
        if points:
            left.plot(*zip(*points, strict=True), marker="o", linestyle=style, label=label)
    encoder_ms = report["encoder"]["single_query_p50_ms"]
    left.axhline(encoder_ms, color="grey", linestyle=":", linewidth=1, label=f"encoder alone {encoder_ms} ms")
    left.axhline(1.6 * encoder_ms, color="grey", linestyle="--", linewidth=1, label="target 1.6 × encoder")
    left.set(xscale="log", xlabel="opportunities", ylabel="ms", title="Engine.match latency")
    left.legend(fontsize=7)
    points = [(r["size"], r["rss_mb"]) for r in results if r.get("rss_mb") is not None]
    if points:
        right.plot(*zip(*points, strict=True), marker="o", label="serving process RSS")
    right.axhline(3000, color="grey", linestyle="--", linewidth=1, label="target at 1M: 3,000 MB")
    right.set(xscale="log", xlabel="opportunities", ylabel="MB", title="Memory")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_tables(report: dict[str, Any], to_stderr: bool) -> None:
    """The results and the targets (wanted, reached, met) as Rich tables."""
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=to_stderr)
    results = Table(title="matcher — benchmarks (ms, unless said)")
    for _, title in TERMINAL_COLUMNS:
        results.add_column(title, justify="right")
    for r in report["results"]:
        results.add_row(*(_cell(r.get(key)) for key, _ in TERMINAL_COLUMNS))
    console.print(results)
    targets = Table(title="matcher — targets")
    for title in ("target", "size", "wanted", "reached", "met"):
        targets.add_column(title, justify="left" if title in ("target", "wanted") else "right")
    for check in report["target_checks"]:
        met = _met(check)
        style = {"yes": "green", "NO": "red"}.get(met, "")
        targets.add_row(
            check["target"], _scope(check), _wanted(check, report, short=True), _cell(check["reached"]),
            f"[{style}]{met}[/{style}]" if style else met,
        )  # fmt: skip
    console.print(targets)
