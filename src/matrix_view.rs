//! Drawing the compatibility matrix: a coloured terminal table, Markdown for READMEs
//! and issues, and one self-contained HTML page (sortable, filterable, every cell opens
//! its evidence). Each package's versions stand together, newest first, older ones
//! de-emphasized, with the package's "GIL-free since" per free-threaded ABI on its
//! first row. The data and its JSON form come from `ftforge_channels::matrix`.

use ftforge_channels::matrix::{Matrix, Row};
use ftforge_channels::Severity;
use ftforge_interpreter::probes::ProbeReport;
use serde::{Deserialize, Serialize};

use crate::probe_view;
use crate::style::verdict as styled;

/// What `compat.json` stores about an interpreter that the views show.
#[derive(Deserialize)]
struct StoredInterpreter {
    facts: Option<StoredFacts>,
    /// Read as a [`ProbeReport`] separately, so an unreadable probe is reported
    /// rather than hiding the facts.
    probe: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct StoredFacts {
    version: String,
    gil_enabled: bool,
}

/// One interpreter of the channel as every view shows it (the HTML page gets these
/// as JSON).
#[derive(Serialize)]
struct InterpreterCard {
    abi: String,
    /// `python 3.14.7 (GIL off)`.
    title: String,
    /// `2 threads: 1.99× one thread`, `1 ms tick p99 late 0.07 ms`, …
    figures: Vec<String>,
    /// How the figures were measured (`None` when there are no probe figures).
    measured: Option<String>,
    under_load: bool,
}

fn interpreter_cards(m: &Matrix) -> Vec<InterpreterCard> {
    m.variants
        .iter()
        .filter_map(|abi| m.interpreters.get(abi).map(|data| card(abi, data)))
        .collect()
}

fn card(abi: &str, data: &serde_json::Value) -> InterpreterCard {
    let stored = serde_json::from_value::<StoredInterpreter>(data.clone()).ok();
    let title = match stored.as_ref().and_then(|s| s.facts.as_ref()) {
        Some(f) => format!(
            "python {} (GIL {})",
            f.version,
            if f.gil_enabled { "on" } else { "off" }
        ),
        None => "python ? (facts unreadable)".into(),
    };
    let mut card = InterpreterCard {
        abi: abi.to_string(),
        title,
        figures: Vec::new(),
        measured: None,
        under_load: false,
    };
    let Some(probe) = stored.and_then(|s| s.probe).filter(|p| !p.is_null()) else {
        return card;
    };
    match serde_json::from_value::<ProbeReport>(probe) {
        Ok(report) => {
            card.figures
                .push(probe_view::scaling_headline(&report.scaling));
            card.figures
                .extend(probe_view::latency_headline(&report.latency));
            card.figures
                .push(probe_view::env_race_headline(&report.env_race));
            let measured = probe_view::measured(report.conditions.as_ref());
            card.measured = Some(measured.text);
            card.under_load = measured.under_load;
        }
        Err(e) => card.figures.push(format!("probe results unreadable: {e}")),
    }
    card
}

/// A verdict's Markdown mark, by severity.
fn mark(severity: Severity) -> &'static str {
    match severity {
        Severity::Good => "✅",
        Severity::Warn => "⚠️",
        Severity::Bad => "❌",
        Severity::Neutral => "➖",
    }
}

/// The free-threaded ABIs some package has a "GIL-free since" for, in column order.
fn since_variants(m: &Matrix) -> Vec<&str> {
    m.variants
        .iter()
        .filter(|v| m.history.iter().any(|h| h.gil_free_since.contains_key(*v)))
        .map(String::as_str)
        .collect()
}

/// The "GIL-free since" text of the package of `row` (`6.0.3`, `none`; with several
/// free-threaded ABIs `cp314t 6.0.3 · cp313t none`; `·` when none was built).
fn since_text(m: &Matrix, row: &Row, variants: &[&str]) -> String {
    let Some(history) = m.history_of(&row.name) else {
        return "·".into();
    };
    let value = |v: &str| {
        history
            .gil_free_since
            .get(v)
            .map(|since| since.clone().unwrap_or_else(|| "none".into()))
    };
    match variants {
        [only] => value(only).unwrap_or_else(|| "·".into()),
        _ => {
            let parts: Vec<String> = variants
                .iter()
                .filter_map(|v| value(v).map(|since| format!("{v} {since}")))
                .collect();
            if parts.is_empty() {
                "·".into()
            } else {
                parts.join(" · ")
            }
        }
    }
}

/// What the "GIL-free since" column means, for the legends.
const SINCE_MEANING: &str = "the oldest built version from which every newer built version keeps the GIL off (none: the newest does not)";

/// Whether `rows[i]` is the first shown row of its package, and whether it is an
/// older version (not the package's newest).
fn position(m: &Matrix, i: usize) -> (bool, bool) {
    let row = &m.packages[i];
    let first = i == 0 || m.packages[i - 1].name != row.name;
    let older = m
        .history_of(&row.name)
        .is_some_and(|h| h.newest != row.version);
    (first, older)
}

fn summary_line(m: &Matrix) -> String {
    let (versions, newest) = if m.summary.versions > m.summary.packages {
        (
            format!(" ({} versions)", m.summary.versions),
            " (newest versions)",
        )
    } else {
        (String::new(), "")
    };
    match &m.summary.headline_variant {
        Some(v) => format!(
            "{} packages{versions} · on {v}{newest}: {} usable free-threaded, {} re-enable the GIL, {} fail to build",
            m.summary.packages,
            m.summary.usable_free_threaded,
            m.summary.reenable_gil,
            m.summary.build_failed
        ),
        None => format!(
            "{} packages{versions} · no free-threaded interpreter in this channel",
            m.summary.packages
        ),
    }
}

pub fn table(m: &Matrix) -> String {
    let mut out = Vec::new();
    for card in interpreter_cards(m) {
        let mut line = format!("{:<7} {}", card.abi, card.title);
        for figure in &card.figures {
            line.push_str(&format!(" · {figure}"));
        }
        out.push(format!("{}", console::style(line).dim()));
        if let Some(measured) = card.measured {
            let measured = format!("{:<7} {measured}", "");
            out.push(if card.under_load {
                format!("{}", console::style(measured).yellow())
            } else {
                format!("{}", console::style(measured).dim())
            });
        }
    }
    if !out.is_empty() {
        out.push(String::new());
    }
    let name_width = m
        .packages
        .iter()
        .map(|r| r.name.len() + r.version.len() + 1)
        .max()
        .unwrap_or(7)
        .max(7);
    let mut header = format!("{:<name_width$}", "package");
    for v in &m.variants {
        header.push_str(&format!("  {v:<14}"));
    }
    let since = since_variants(m);
    let since_width = m
        .packages
        .iter()
        .map(|r| since_text(m, r, &since).chars().count())
        .max()
        .unwrap_or(0)
        .max(14);
    if !since.is_empty() {
        header.push_str(&format!("  {:<since_width$}", "GIL-free since"));
    }
    let sub_variant = subinterpreter_variant(m);
    if sub_variant.is_some() {
        header.push_str("  subinterpreters");
    }
    out.push(format!("{}", console::style(header.trim_end()).bold()));
    for (i, row) in m.packages.iter().enumerate() {
        let (first, older) = position(m, i);
        let name = format!("{:<name_width$}", format!("{} {}", row.name, row.version));
        let mut line = if older {
            format!("{}", console::style(name).dim())
        } else {
            name
        };
        for v in &m.variants {
            match row.cells.get(v) {
                Some(cell) => {
                    let abi = cell.stable_abi.map(|a| format!(" {a}")).unwrap_or_default();
                    let padding = 14usize.saturating_sub(cell.verdict.as_str().len() + abi.len());
                    line.push_str(&format!(
                        "  {}{abi}{}",
                        styled(cell.verdict),
                        " ".repeat(padding)
                    ));
                }
                None => line.push_str(&format!("  {:<14}", "·")),
            }
        }
        if !since.is_empty() {
            let text = if first {
                since_text(m, row, &since)
            } else {
                String::new()
            };
            line.push_str(&format!("  {text:<since_width$}"));
        }
        if let Some(v) = &sub_variant {
            line.push_str(&format!("  {}", subinterpreter_text(row.cells.get(v))));
        }
        out.push(line.trim_end().to_string());
    }
    out.push(String::new());
    out.push(summary_line(m));
    if !since.is_empty() {
        out.push(format!(
            "{}",
            console::style(format!("GIL-free since: {SINCE_MEANING}")).dim()
        ));
    }
    let legend: Vec<String> = m
        .legend
        .iter()
        .filter(|l| {
            m.packages
                .iter()
                .any(|r| r.cells.values().any(|c| c.verdict == l.verdict))
        })
        .map(|l| format!("{} {}", styled(l.verdict), console::style(&l.meaning).dim()))
        .collect();
    if !legend.is_empty() {
        out.push(format!("legend: {}", legend.join(" · ")));
    }
    out.join("\n")
}

/// The variant whose subinterpreter results the table shows (the newest with any).
fn subinterpreter_variant(m: &Matrix) -> Option<String> {
    m.variants
        .iter()
        .find(|v| {
            m.packages.iter().any(|r| {
                r.cells
                    .get(*v)
                    .is_some_and(|c| c.subinterpreter_failures.is_some())
            })
        })
        .cloned()
}

fn subinterpreter_text(cell: Option<&ftforge_channels::matrix::Cell>) -> String {
    match cell.and_then(|c| c.subinterpreter_failures.as_ref()) {
        None => "·".into(),
        Some(failing) if failing.is_empty() => "all load".into(),
        Some(failing) => format!("not: {}", failing.join(", ")),
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn markdown(m: &Matrix) -> String {
    let mut out = Vec::new();
    out.push("## Free-threading compatibility".to_string());
    out.push(String::new());
    let cards = interpreter_cards(m);
    if !cards.is_empty() {
        for card in cards {
            let mut line = format!("{} {}", card.abi, card.title);
            for figure in &card.figures {
                line.push_str(&format!(" · {figure}"));
            }
            out.push(format!("- {}", md_escape(&line)));
            if let Some(measured) = card.measured {
                let flag = if card.under_load { "⚠️ " } else { "" };
                out.push(format!("  {flag}*{}*", md_escape(&measured)));
            }
        }
        out.push(String::new());
    }
    let sub_variant = subinterpreter_variant(m);
    let sub_header = sub_variant
        .as_ref()
        .map(|v| format!(" subinterpreters ({v}) |"))
        .unwrap_or_default();
    let since = since_variants(m);
    let since_header = if since.is_empty() {
        ""
    } else {
        " GIL-free since |"
    };
    out.push(format!(
        "| package | {} |{since_header}{sub_header}",
        m.variants.join(" | ")
    ));
    let sub_rule = if sub_variant.is_some() { "---|" } else { "" };
    let since_rule = if since.is_empty() { "" } else { "---|" };
    out.push(format!(
        "|---|{}{since_rule}{sub_rule}",
        "---|".repeat(m.variants.len())
    ));
    for (i, row) in m.packages.iter().enumerate() {
        let (first, older) = position(m, i);
        let cells: Vec<String> = m
            .variants
            .iter()
            .map(|v| match row.cells.get(v) {
                Some(c) => format!("{} {}", mark(c.verdict.severity()), c.label()),
                None => "·".into(),
            })
            .collect();
        let sub = sub_variant
            .as_ref()
            .map(|v| format!(" {} |", md_escape(&subinterpreter_text(row.cells.get(v)))))
            .unwrap_or_default();
        let since_cell = match (since.is_empty(), first) {
            (true, _) => String::new(),
            (false, true) => format!(" {} |", md_escape(&since_text(m, row, &since))),
            (false, false) => " |".into(),
        };
        let package = format!("{} {}", md_escape(&row.name), md_escape(&row.version));
        let package = if older {
            format!("*{package}*")
        } else {
            package
        };
        out.push(format!(
            "| {package} | {} |{since_cell}{sub}",
            cells.join(" | ")
        ));
    }
    out.push(String::new());
    out.push(format!("{}.", summary_line(m)));
    if !since.is_empty() {
        out.push(String::new());
        out.push(format!("GIL-free since: {SINCE_MEANING}."));
    }
    out.push(String::new());
    let legend: Vec<String> = m
        .legend
        .iter()
        .map(|l| format!("`{}` {}", l.verdict, l.meaning))
        .collect();
    out.push(format!("Legend: {}.", legend.join("; ")));
    out.join("\n") + "\n"
}

pub fn html(m: &Matrix) -> String {
    let data = serde_json::to_string(m)
        .unwrap_or_else(|_| "{}".into())
        .replace("</", "<\\/");
    let cards = serde_json::to_string(&interpreter_cards(m))
        .unwrap_or_else(|_| "[]".into())
        .replace("</", "<\\/");
    // The "GIL-free since" text of each package, drawn here so the page and the
    // other views say the same.
    let since = since_variants(m);
    let since_texts: std::collections::BTreeMap<&str, String> = if since.is_empty() {
        Default::default()
    } else {
        m.packages
            .iter()
            .map(|r| (r.name.as_str(), since_text(m, r, &since)))
            .collect()
    };
    let since_json = serde_json::to_string(&since_texts)
        .unwrap_or_else(|_| "{}".into())
        .replace("</", "<\\/");
    HTML_TEMPLATE
        .replace("__MATRIX_JSON__", &data)
        .replace("__INTERPRETERS_JSON__", &cards)
        .replace("__SINCE_JSON__", &since_json)
        .replace(
            "__SINCE_MEANING__",
            &serde_json::to_string(SINCE_MEANING).unwrap_or_else(|_| "\"\"".into()),
        )
        .replace("__SUMMARY__", &html_escape(&summary_line(m)))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const HTML_TEMPLATE: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Free-threading compatibility — ftforge</title>
<style>
  :root { --bg:#f7f7f9; --fg:#1d1d22; --muted:#6b6b78; --card:#fff; --line:#e4e4ea;
          --good:#1a7f37; --goodbg:#dafbe1; --warn:#9a6700; --warnbg:#fff8c5; --bad:#cf222e; --badbg:#ffebe9; --neutral:#57606a; --neutralbg:#eaeef2; }
  @media (prefers-color-scheme: dark) { :root { --bg:#0d1117; --fg:#e6edf3; --muted:#8b949e; --card:#161b22; --line:#30363d;
          --goodbg:#12361f; --good:#3fb950; --warnbg:#3b2e00; --warn:#d29922; --badbg:#3d1418; --bad:#f85149; --neutralbg:#21262d; --neutral:#8b949e; } }
  * { box-sizing: border-box; }
  body { margin:0; font:15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--fg); }
  header { padding:28px 32px 8px; }
  h1 { margin:0 0 4px; font-size:24px; }
  .sub { color:var(--muted); }
  main { padding:8px 32px 40px; }
  .cards { display:flex; gap:12px; flex-wrap:wrap; margin:16px 0; }
  .card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:12px 16px; min-width:220px; }
  .card b { font-size:20px; display:block; }
  .interp { font-size:13px; color:var(--muted); }
  .controls { display:flex; gap:8px; flex-wrap:wrap; align-items:center; margin:16px 0; }
  .controls input { padding:7px 10px; border-radius:8px; border:1px solid var(--line); background:var(--card); color:var(--fg); min-width:240px; }
  .chip { border:1px solid var(--line); background:var(--card); color:var(--fg); border-radius:999px; padding:4px 12px; cursor:pointer; font-size:13px; }
  .chip.on { outline:2px solid #0969da; }
  table { border-collapse:separate; border-spacing:0; width:100%; background:var(--card); border:1px solid var(--line); border-radius:10px; overflow:hidden; }
  th, td { padding:8px 12px; border-bottom:1px solid var(--line); text-align:left; white-space:nowrap; }
  th { cursor:pointer; user-select:none; font-size:13px; color:var(--muted); background:var(--bg); position:sticky; top:0; }
  th .arrow { opacity:.5; }
  tr:last-child td { border-bottom:none; }
  .v { display:inline-block; padding:2px 10px; border-radius:999px; font-size:13px; font-weight:600; cursor:pointer; border:none; }
  .v-good { color:var(--good); background:var(--goodbg); } .v-warn { color:var(--warn); background:var(--warnbg); }
  .v-bad { color:var(--bad); background:var(--badbg); } .v-neutral { color:var(--neutral); background:var(--neutralbg); }
  .measured { margin-top:4px; font-style:italic; } .measured.load { color:var(--warn); font-style:normal; font-weight:600; }
  .none { color:var(--muted); }
  tr.older td { opacity:.6; font-size:13px; } tr.older .again { color:var(--muted); }
  tr.first:not(:first-child) td { border-top:1px solid var(--line); }
  td.since { font-weight:600; }
  dialog { max-width:min(900px, 92vw); border:1px solid var(--line); border-radius:12px; background:var(--card); color:var(--fg); padding:20px 24px; }
  dialog pre { background:var(--bg); padding:12px; border-radius:8px; overflow:auto; max-height:50vh; font-size:12px; white-space:pre-wrap; }
  dialog h2 { margin-top:0; font-size:18px; }
  .legend { margin-top:18px; color:var(--muted); font-size:13px; }
  .legend span { margin-right:14px; }
  footer { color:var(--muted); font-size:12px; padding:0 32px 24px; }
</style>
</head>
<body>
<header>
  <h1>Free-threading compatibility</h1>
  <div class="sub" id="summary">__SUMMARY__</div>
</header>
<main>
  <div class="cards" id="cards"></div>
  <div class="controls">
    <input id="search" type="search" placeholder="Filter packages…" aria-label="Filter packages">
    <span id="chips"></span>
  </div>
  <table id="matrix"><thead></thead><tbody></tbody></table>
  <div class="legend" id="legend"></div>
</main>
<footer>Generated by ftforge from the channel's compat.json. Click a verdict for its evidence.</footer>
<dialog id="evidence"><h2 id="ev-title"></h2><p id="ev-reason"></p><pre id="ev-body"></pre><form method="dialog"><button class="chip">Close</button></form></dialog>
<script id="data" type="application/json">__MATRIX_JSON__</script>
<script id="interpreters" type="application/json">__INTERPRETERS_JSON__</script>
<script id="since" type="application/json">__SINCE_JSON__</script>
<script>
const M = JSON.parse(document.getElementById('data').textContent);
const INTERPRETERS = JSON.parse(document.getElementById('interpreters').textContent);
// "GIL-free since" per package, as the Rust views write it (empty: no free-threaded ABI).
const SINCE = JSON.parse(document.getElementById('since').textContent);
const SHOW_SINCE = Object.keys(SINCE).length > 0;
const SINCE_MEANING = __SINCE_MEANING__;
// Verdict → severity comes from Rust (Verdict::severity, in the legend); CSS has one class per severity.
const SEVERITY = Object.fromEntries(M.legend.map(l => [l.verdict, l.severity]));
const cls = v => SEVERITY[v];
const esc = s => String(s ?? '').replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
let sortKey = 'package', sortDir = 1, active = new Set();
function cards() {
  const el = document.getElementById('cards');
  const s = M.summary;
  const items = [];
  if (s.headline_variant) {
    items.push(`<div class="card"><b>${s.usable_free_threaded} / ${s.packages}</b>usable free-threaded on ${esc(s.headline_variant)}</div>`);
    items.push(`<div class="card"><b>${s.reenable_gil}</b>re-enable the GIL</div>`);
    items.push(`<div class="card"><b>${s.build_failed}</b>fail to build</div>`);
  }
  for (const c of INTERPRETERS) {
    const lines = [c.title, ...c.figures].map(esc);
    const measured = c.measured ? `<div class="measured${c.under_load ? ' load' : ''}">${c.under_load ? '⚠ ' : ''}${esc(c.measured)}</div>` : '';
    items.push(`<div class="card"><b>${esc(c.abi)}</b><div class="interp">${lines.join('<br>')}${measured}</div></div>`);
  }
  el.innerHTML = items.join('');
}
function chips() {
  const present = new Set(M.packages.flatMap(r => Object.values(r.cells).map(c => c.verdict)));
  document.getElementById('chips').innerHTML = M.legend.filter(l => present.has(l.verdict))
    .map(l => `<button class="chip ${active.has(l.verdict) ? 'on' : ''}" data-v="${l.verdict}" title="${esc(l.meaning)}">${esc(l.verdict)}</button>`).join(' ');
  document.querySelectorAll('#chips .chip').forEach(b => b.onclick = () => { const v = b.dataset.v; active.has(v) ? active.delete(v) : active.add(v); render(); });
  document.getElementById('legend').innerHTML = M.legend.map(l => `<span><span class="v v-${cls(l.verdict)}">${esc(l.verdict)}</span> ${esc(l.meaning)}</span>`).join('');
}
function render() {
  chips();
  const head = document.querySelector('#matrix thead');
  const cols = ['package', ...M.variants];
  head.innerHTML = '<tr>' + cols.map(c => `<th data-k="${esc(c)}">${esc(c)} <span class="arrow">${sortKey === c ? (sortDir > 0 ? '▲' : '▼') : ''}</span></th>`).join('')
    + (SHOW_SINCE ? `<th class="since" title="${esc(SINCE_MEANING)}">GIL-free since</th>` : '') + '</tr>';
  head.querySelectorAll('th[data-k]').forEach(th => th.onclick = () => { const k = th.dataset.k; sortDir = sortKey === k ? -sortDir : 1; sortKey = k; render(); });
  const q = document.getElementById('search').value.toLowerCase();
  const order = v => M.legend.findIndex(l => l.verdict === v);
  // A package's versions stay together, newest first (the order of M.packages); groups
  // sort by name or by their newest version's verdict.
  const groups = [];
  for (const r of M.packages) {
    if (!groups.length || groups[groups.length - 1][0].name !== r.name) groups.push([]);
    groups[groups.length - 1].push(r);
  }
  const shown = groups.filter(g => g[0].name.toLowerCase().includes(q))
    .map(g => g.filter(r => active.size === 0 || Object.values(r.cells).some(c => active.has(c.verdict))))
    .filter(g => g.length);
  const newest = (g, k) => { const r = g.find(r => r.cells[k]); return r ? order(r.cells[k].verdict) : 99; };
  shown.sort((a, b) => sortKey === 'package' ? sortDir * a[0].name.localeCompare(b[0].name) : sortDir * (newest(a, sortKey) - newest(b, sortKey)));
  const history = Object.fromEntries((M.history || []).map(h => [h.name, h]));
  const row = (r, i) => {
    const older = history[r.name] && history[r.name].newest !== r.version;
    return `<tr class="${older ? 'older' : 'newest'}${i === 0 ? ' first' : ''}"><td>` + (i === 0 ? '<b>' + esc(r.name) + '</b> ' : '<span class="again">' + esc(r.name) + '</span> ') + esc(r.version) + '</td>' +
      M.variants.map(v => { const c = r.cells[v]; return c ? `<td><button class="v v-${cls(c.verdict)}" data-p="${esc(r.name)}" data-ver="${esc(r.version)}" data-a="${esc(v)}" title="${esc(c.reason)}">${esc(c.verdict)}${c.stable_abi ? ' <small>' + esc(c.stable_abi) + '</small>' : ''}</button></td>` : '<td class="none">·</td>'; }).join('') +
      (SHOW_SINCE ? `<td class="since">${i === 0 ? esc(SINCE[r.name] ?? '·') : ''}</td>` : '') + '</tr>';
  };
  document.querySelector('#matrix tbody').innerHTML = shown.map(g => g.map(row).join('')).join('');
  document.querySelectorAll('#matrix .v').forEach(b => b.onclick = () => show(b.dataset.p, b.dataset.ver, b.dataset.a));
}
function show(p, ver, abi) {
  const row = M.packages.find(r => r.name === p && r.version === ver), c = row.cells[abi];
  document.getElementById('ev-title').textContent = `${p} ${ver} on ${abi}: ${c.verdict}`;
  document.getElementById('ev-reason').textContent = c.reason;
  const e = c.evidence || {};
  const parts = [];
  if (e.imports) parts.push('Modules:\n' + e.imports.map(i => `  ${i.module}: ${i.imported ? 'imported' : 'FAILED ' + (i.error || '')}, GIL after import: ${i.gil_after}` + (i.warnings && i.warnings.length ? '\n    ' + i.warnings.join('\n    ') : '')).join('\n'));
  if (e.stress) parts.push(`Thread stress (${e.stress.snippet_source}, ${e.stress.threads} threads × ${e.stress.rounds} rounds, PYTHON_GIL=${e.stress.python_gil ?? 'unset'}): ${e.stress.passed ? 'passed' : 'FAILED ' + (e.stress.failure || '')} in ${Number(e.stress.seconds).toFixed(2)} s` + (e.stress.errors && e.stress.errors.length ? '\n' + e.stress.errors.join('\n') : ''));
  if (e.subinterpreters && e.subinterpreters.modules) parts.push(`Subinterpreters (${e.subinterpreters.api}):\n` + Object.entries(e.subinterpreters.modules).map(([m, r]) => `  ${m}: ${r.ok ? 'loads' : 'does not load: ' + r.error}`).join('\n'));
  if (e.tests && e.tests.length) parts.push('Recipe tests:\n' + e.tests.map(t => `  ${t.passed ? '✓' : '✗'} ${t.name}${t.detail ? ': ' + t.detail : ''}`).join('\n'));
  if (e.log) parts.push(`Log: ${e.log}`);
  if (e.log_tail) parts.push('Last lines:\n' + e.log_tail);
  parts.push('Raw evidence:\n' + JSON.stringify(e, null, 2));
  document.getElementById('ev-body').textContent = parts.join('\n\n');
  document.getElementById('evidence').showModal();
}
document.getElementById('search').oninput = render;
cards(); render();
</script>
</body>
</html>
"##;
