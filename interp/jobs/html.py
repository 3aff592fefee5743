"""The report a person reads (`index.html`): findings first, one sentence per job with numbers, CIs and n; then one
section per job with its tables and captioned figures; a run summary; links to the JSON. Generated from the
registry, so a new job appears here without touching this file."""
from __future__ import annotations

import html
from pathlib import Path

from .registry import Rendered, jobs

STYLE = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;line-height:1.45;color:#222}"
         "table{border-collapse:collapse;margin:.6em 0 1.2em}td,th{border:1px solid #ccc;padding:3px 8px;font-size:.9em;"
         "text-align:left}caption{caption-side:top;text-align:left;font-size:.9em;color:#444;padding-bottom:.3em}"
         "figure{margin:1em 0}figure img{max-width:100%}figcaption{font-size:.9em;color:#444}"
         "li{margin:.35em 0}.kind{color:#888;font-size:.8em;text-transform:uppercase}")


def findings(results: dict[str, dict]) -> list[str]:
    """One sentence per job that produced a result (captures are summarised in the run table instead)."""
    out = []
    for job in jobs():
        if job.name in results and job.kind != "artefact":
            out.append(job.summary(results[job.name]))
    return out


def _table(caption: str, header: list[str], rows: list[list[str]]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><caption>{e(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(out: Path, name: str, title: str, kind: str, r: Rendered) -> str:
    e = html.escape
    parts = [f"<section id='{e(name)}'><h3>{e(title)} <span class='kind'>{e(kind)}</span></h3>"]
    parts += [f"<p>{e(p)}</p>" for p in r.paragraphs]
    parts += [f"<p><a href='{e(href)}'>{e(text)}</a></p>" for text, href in r.links]
    parts += [_table(*t) for t in r.tables]
    for f in r.figures:
        if (out / f.path).exists():
            parts.append(f"<figure><img src='{e(f.path)}' alt='{e(f.caption)}'><figcaption>{e(f.caption)}</figcaption></figure>")
    parts.append(f"<p><a href='stages/{e(name)}.json'>result JSON</a></p></section>")
    return "\n".join(parts)


def write_report(out: Path, record: dict, results: dict[str, dict]) -> Path:
    """Write `out/index.html` from the registry and the jobs' results; return its path."""
    e = html.escape
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>clip-interp report: {e(record['model'])}</title>"
             f"<style>{STYLE}</style></head><body>", f"<h1>clip-interp report — {e(record['model'])}</h1>",
             "<h2>Findings</h2><ul class='findings'>"]
    parts += [f"<li>{e(s)}</li>" for s in findings(results)]
    parts.append("</ul>")
    rows = [[name, "reused" if t["reused"] else f"{t['seconds']:.1f}"] for name, t in record["timing"].items()]
    parts.append("<h2>Run</h2>" + _table(
        f"Model {record['model']} (weights hash {record['model_hash']}), code {record['code_version']}, "
        + ", ".join(f"{k} {v}" for k, v in record["versions"].items())
        + f"; device {record['device']}; control sets per experiment {record['controls']}. Seconds per stage "
          "(reused: inputs unchanged since an earlier run).", ["stage", "seconds"], rows))
    sections = {"probe": "Behavioural probes", "artefact": "Captures and artefacts", "analysis": "Analyses",
                "experiment": "Causal experiments"}
    for kind, heading in sections.items():
        ks = [j for j in jobs(kind) if j.name in results]
        if not ks:
            continue
        parts.append(f"<h2>{e(heading)}</h2>")
        parts += [_section(out, j.name, j.title, kind, j.render(results[j.name])) for j in ks]
    parts.append("</body></html>")
    path = out / "index.html"
    path.write_text("\n".join(parts))
    return path
