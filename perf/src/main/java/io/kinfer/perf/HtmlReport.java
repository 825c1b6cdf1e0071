package io.kinfer.perf;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The perf report as one HTML file that opens offline, from a mail attachment or a CI artifact: ECharts and the
 * report's JSON are inlined, and a small script draws the tables and charts from that JSON in the browser. Keeping
 * the figures as data (not pre-rendered markup) means the page shows exactly what {@code --json} wrote.
 *
 * <p>When every chart is drawn the page sets {@code data-charts-rendered} (how many) and {@code data-ready="true"}
 * on {@code <body>}, and {@code data-errors} to the number of sections that failed, so a headless browser can check
 * it.
 */
public final class HtmlReport {

    /** The webjar's path carries its version: keep it in step with the echarts dependency in perf/pom.xml. */
    static final String ECHARTS_RESOURCE = "META-INF/resources/webjars/echarts/5.3.1/dist/echarts.min.js";

    private static final Pattern SCRIPT_END = Pattern.compile("</(script)", Pattern.CASE_INSENSITIVE);

    private HtmlReport() {
    }

    public static void write(PerfReport report, Path file) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Files.writeString(file, render(report), StandardCharsets.UTF_8);
    }

    public static String render(PerfReport report) throws IOException {
        String echarts = echarts();
        String json = report.toJson();
        var html = new StringBuilder(echarts.length() + json.length() + HEAD.length() + APP.length() + 256);
        html.append(HEAD.replace("@@TITLE@@", escapeHtml(title(report))));
        html.append("<script>\n").append(scriptSafe(echarts)).append("\n</script>\n");
        html.append("<script type=\"application/json\" id=\"report-data\">\n").append(jsonSafe(json))
                .append("\n</script>\n");
        html.append("<script>\n").append(APP).append("</script>\n</body>\n</html>\n");
        return html.toString();
    }

    private static String echarts() throws IOException {
        try (InputStream in = HtmlReport.class.getClassLoader().getResourceAsStream(ECHARTS_RESOURCE)) {
            if (in == null) {
                throw new IOException("ECharts is missing from the classpath (" + ECHARTS_RESOURCE
                        + "): the org.webjars.npm:echarts dependency and this path must name the same version");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static String title(PerfReport report) {
        return report.startedAt() == null ? "kinfer perf report" : "kinfer perf report, " + report.startedAt();
    }

    /**
     * In JSON every {@code <} sits inside a string, where its unicode escape means the same character; with no
     * {@code <} left, the data can neither close its script element ({@code </script>}) nor open a comment.
     */
    static String jsonSafe(String json) {
        return json.replace("<", "\\u003c");
    }

    /** ECharts 5.3.1 has no {@code </script} in it; if a later release does, {@code <\/} means the same in JS. */
    private static String scriptSafe(String js) {
        return SCRIPT_END.matcher(js).replaceAll(Matcher.quoteReplacement("<\\/") + "$1");
    }

    private static String escapeHtml(String text) {
        var out = new StringBuilder(text.length());
        for (char c : text.toCharArray()) {
            switch (c) {
                case '&' -> out.append("&amp;");
                case '<' -> out.append("&lt;");
                case '>' -> out.append("&gt;");
                case '"' -> out.append("&quot;");
                case '\'' -> out.append("&#39;");
                default -> out.append(c);
            }
        }
        return out.toString();
    }

    private static final String HEAD = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>@@TITLE@@</title>
            <style>
              :root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --head: #f6f8fa; }
              * { box-sizing: border-box; }
              body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
                     color: var(--fg); background: #fff; }
              main { max-width: 1320px; margin: 0 auto; padding: 24px 32px 64px; }
              h1 { font-size: 22px; margin: 0 0 4px; }
              h2 { font-size: 17px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
              h3 { font-size: 14px; margin: 20px 0 6px; }
              h4 { font-size: 13px; margin: 8px 0 4px; color: var(--muted); }
              .meta, .note { color: var(--muted); margin: 0 0 8px; }
              .error { color: #b42318; }
              .table-wrap { overflow-x: auto; }
              table { border-collapse: collapse; margin: 4px 0 12px; font-variant-numeric: tabular-nums; }
              th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
              th { background: var(--head); font-weight: 600; white-space: nowrap; }
              .num { text-align: right; white-space: nowrap; }
              .method { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; word-break: break-all; }
              .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 16px; }
              .chart { height: 320px; min-width: 0; margin: 8px 0; border: 1px solid var(--line); border-radius: 6px; }
              .pair { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; }
              dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 4px 0; }
              dt { color: var(--muted); }
              dd { margin: 0; }
              code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
            </style>
            </head>
            <body>
            <main id="report">
            <noscript><p>This report draws its tables and charts with JavaScript; the figures are also in the
            <code>report-data</code> block of this file's source.</p></noscript>
            </main>
            """;

    /** Builds the page from the embedded JSON; every text from the data goes in as a text node, never as markup. */
    private static final String APP = """
            (function () {
              'use strict';
              const report = JSON.parse(document.getElementById('report-data').textContent);
              const runs = Array.isArray(report.runs) ? report.runs : [];
              const root = document.getElementById('report');
              const charts = [];
              let errors = 0;

              function el(tag, attrs, children) {
                const node = document.createElement(tag);
                for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
                for (const child of [].concat(children == null ? [] : children)) {
                  node.append(child instanceof Node ? child : String(child));
                }
                return node;
              }
              function finite(v) { return typeof v === 'number' && Number.isFinite(v); }
              function num(v, digits) {
                if (!finite(v)) return '–';
                if (digits == null) {
                  const a = Math.abs(v);
                  digits = Number.isInteger(v) || a >= 100 ? 0 : a >= 10 ? 1 : 2;
                }
                return v.toLocaleString('en-US', {minimumFractionDigits: digits, maximumFractionDigits: digits});
              }
              // '-' is ECharts' empty value: a gap in the line, where 0 would claim a measurement.
              function point(v) { return finite(v) ? v : '-'; }
              function keys(map) { return map && typeof map === 'object' ? Object.keys(map) : []; }
              function col(title, cls) { return {title: title, cls: cls}; }
              function table(columns, rows) {
                const head = el('tr', null, columns.map(c => el('th', c.cls ? {class: c.cls} : null, c.title)));
                const body = rows.map(row => el('tr', null,
                    row.map((v, i) => el('td', columns[i].cls ? {class: columns[i].cls} : null, v))));
                return el('div', {class: 'table-wrap'}, el('table', null, [el('thead', null, head),
                    el('tbody', null, body)]));
              }
              function section(title, note) {
                const s = el('section', null, el('h2', null, title));
                if (note) s.append(el('p', {class: 'note'}, note));
                root.append(s);
                return s;
              }
              function chart(parent, option) {
                const box = el('div', {class: 'chart'});
                parent.append(box);
                const instance = echarts.init(box, null, {renderer: 'canvas'});
                instance.setOption(Object.assign({animation: false}, option));
                charts.push(instance);
              }
              function line(name, data, axis, extra) {
                return Object.assign({name: name, type: 'line', yAxisIndex: axis, data: data,
                    showSymbol: data.length < 2, symbolSize: 5}, extra || {});
              }
              function runName(r) { return r.name || 'run'; }

              function header() {
                const meta = [];
                if (report.started_at) meta.push('started ' + report.started_at);
                if (report.tool) meta.push(report.tool);
                meta.push(runs.length + (runs.length === 1 ? ' run' : ' runs'));
                root.append(el('h1', null, 'kinfer perf report'), el('p', {class: 'meta'}, meta.join(' · ')));
              }

              function load(r) {
                if (r.mode === 'open') return num(r.rate) + '/s' + (r.arrivals ? ' ' + r.arrivals : '');
                return finite(r.users) ? r.users + (r.users === 1 ? ' user' : ' users') : '–';
              }
              function failures(r) {
                if (!finite(r.failures)) return '–';
                if (r.failures === 0 || !(r.requests > 0)) return num(r.failures);
                return num(r.failures) + ' (' + num(100 * r.failures / r.requests, 1) + ' %)';
              }
              function summary() {
                const s = section('Summary', 'Latency is end to end per call, in milliseconds; open-loop runs '
                    + 'measure it from the intended send time. It includes timed-out calls at their elapsed time '
                    + '(at least the call timeout), so a stall shows in the tail; other failures are counted apart. '
                    + '– means no data (no call answered).');
                if (!runs.length) {
                  s.append(el('p', {class: 'note'}, 'No runs.'));
                } else {
                  const ratio = runs.some(r => finite(r.ratio_to_ceiling));
                  const columns = [col('run'), col('target'), col('mode'), col('load'), col('batch', 'num'),
                      col('seconds', 'num'), col('requests/s', 'num'), col('items/s', 'num'), col('p50 ms', 'num'),
                      col('p95 ms', 'num'), col('p99 ms', 'num'), col('failures', 'num')];
                  if (ratio) columns.push(col('of ceiling', 'num'));
                  s.append(table(columns, runs.map(r => {
                    const lat = r.latency || {};
                    const row = [runName(r), [r.target, r.endpoint, r.model].filter(Boolean).join(' '), r.mode || '–',
                        load(r), num(r.batch_size), num(r.duration_seconds, 1), num(r.requests_per_second),
                        num(r.items_per_second), num(lat.p50), num(lat.p95), num(lat.p99), failures(r)];
                    if (ratio) row.push(finite(r.ratio_to_ceiling) ? num(100 * r.ratio_to_ceiling, 1) + ' %' : '–');
                    return row;
                  })));
                  const lagging = runs.filter(r => r.send_lag);
                  if (lagging.length) {
                    s.append(el('h3', null, 'Open-loop send lag'));
                    s.append(el('p', {class: 'note'}, 'How late the generator sent its calls after their planned '
                        + 'time; a generator that fell behind offered less load than planned.'));
                    s.append(table([col('run'), col('planned calls/s', 'num'), col('sent calls/s', 'num'),
                        col('lag p50 ms', 'num'), col('lag p99 ms', 'num'), col('fell behind')],
                        lagging.map(r => {
                          const lag = r.send_lag.lag || {};
                          return [runName(r), num(r.send_lag.planned_rate), num(r.send_lag.achieved_rate),
                              num(lag.p50, 3), num(lag.p99, 3), r.send_lag.behind ? 'yes' : 'no'];
                        })));
                  }
                }
                const c = report.ceiling;
                if (c) {
                  s.append(el('h3', null, 'Ceiling: the raw model in this process'));
                  s.append(el('p', {class: 'note'}, 'No Kafka, no HTTP: the same ONNX model and thread settings as a worker. '
                      + 'Items per second at the largest batch is what the pipeline is compared with; the batch-1 '
                      + 'latency is the floor of a lone call.'));
                  const b = c.batch_latency || {};
                  const one = c.batch1_latency || {};
                  const grouping = c.grouping ? c.grouping + (c.grouping === 'pad-aware' && c.queue_size
                      ? ' (queue of ' + c.queue_size + ')' : '') : 'not recorded (arrival)';
                  s.append(table([col('model'), col('threads', 'num'), col('1-thread calls up to (tokens)', 'num'),
                      col('instances', 'num'), col('batch', 'num'), col('grouping'), col('real/padded tokens', 'num'),
                      col('items/s', 'num'), col('batch p50 ms', 'num'), col('batch p99 ms', 'num'),
                      col('batch-1 p50 ms', 'num'), col('batch-1 p99 ms', 'num')],
                      [[c.model || '–', num(c.threads), num(c.single_thread_max_tokens || 0), num(c.instances || 1),
                      num(c.batch_size), grouping,
                      finite(c.padding_efficiency) ? num(100 * c.padding_efficiency, 0) + ' %' : '–',
                      num(c.items_per_second), num(b.p50), num(b.p99), num(one.p50), num(one.p99)]]));
                }
                const env = report.environment;
                if (env) {
                  s.append(el('h3', null, 'Environment'));
                  const rows = [['host', env.host], ['CPUs', finite(env.cpus) ? String(env.cpus) : null],
                      ['max heap', finite(env.max_heap_mb) ? num(env.max_heap_mb) + ' MB' : null],
                      ['Java', env.java], ['OS', env.os]];
                  const dl = el('dl', null, rows.filter(r => r[1]).flatMap(r => [el('dt', null, r[0]),
                      el('dd', null, r[1])]));
                  if (env.command) dl.append(el('dt', null, 'command'), el('dd', null, el('code', null, env.command)));
                  s.append(dl);
                }
              }

              function timelines() {
                const timed = runs.filter(r => Array.isArray(r.timeline) && r.timeline.length);
                if (!timed.length) return;
                const s = section('Latency percentiles over time', 'One point per second of each run: p50 and p99 '
                    + '(left axis, ms) and requests per second (right axis).');
                const grid = el('div', {class: 'charts'});
                s.append(grid);
                for (const r of timed) {
                  const t = r.timeline;
                  const series = [line('p50', t.map(p => [p.second, point(p.p50)]), 0),
                      line('p99', t.map(p => [p.second, point(p.p99)]), 0),
                      line('requests/s', t.map(p => [p.second, point(p.requests_per_second)]), 1,
                          {lineStyle: {type: 'dashed'}})];
                  if (t.some(p => p.failures > 0)) {
                    series.push({name: 'failures/s', type: 'bar', yAxisIndex: 1, barMaxWidth: 6,
                        data: t.map(p => [p.second, p.failures || 0])});
                  }
                  chart(grid, {
                    title: {text: runName(r), left: 8, top: 6, textStyle: {fontSize: 13}},
                    tooltip: {trigger: 'axis'},
                    legend: {bottom: 4},
                    grid: {left: 56, right: 56, top: 48, bottom: 56},
                    xAxis: {type: 'value', name: 'second', nameLocation: 'middle', nameGap: 22, min: 'dataMin',
                        max: 'dataMax'},
                    yAxis: [{type: 'value', name: 'ms', min: 0},
                        {type: 'value', name: 'per s', min: 0, splitLine: {show: false}}],
                    series: series
                  });
                }
              }

              function sweep() {
                const measured = runs.filter(r => r.latency && finite(r.requests_per_second))
                    .sort((a, b) => a.requests_per_second - b.requests_per_second);
                if (measured.length < 2) return;
                // A line only joins steps of one sweep; runs of different shapes are separate points.
                const sweepLike = new Set(measured.map(r => [r.target, r.endpoint, r.model, r.mode, r.batch_size]
                    .join(' '))).size === 1;
                const s = section('Latency vs throughput', 'Each point is a run, in order of requests per second: '
                    + 'where latency climbs and throughput stops growing is the knee.');
                const series = ['p50', 'p95', 'p99'].map(key => ({name: key, type: sweepLike ? 'line' : 'scatter',
                    symbolSize: 8,
                    data: measured.map(r => ({name: runName(r), items: r.items_per_second,
                        value: [r.requests_per_second, point(r.latency[key])]}))}));
                chart(s, {
                  tooltip: {trigger: 'item', formatter: p => echarts.format.encodeHTML(p.data.name) + '<br>'
                      + p.seriesName + ' ' + num(p.value[1]) + ' ms at ' + num(p.value[0]) + ' requests/s ('
                      + num(p.data.items) + ' items/s)'},
                  legend: {top: 4, right: 8},
                  grid: {left: 56, right: 72, top: 40, bottom: 32},
                  xAxis: {type: 'value', name: 'requests/s', scale: true},
                  yAxis: {type: 'value', name: 'ms', min: 0},
                  series: series
                });
              }

              function server() {
                const served = runs.filter(r => r.server);
                if (!served.length) return;
                const s = section('Batch-size distribution', 'Batch sizes as the workers reported them in their '
                    + 'replies, stacked by run.');
                const sized = served.filter(r => keys(r.server.batch_sizes).length);
                if (sized.length) {
                  const sizes = [...new Set(sized.flatMap(r => keys(r.server.batch_sizes).map(Number)))]
                      .sort((a, b) => a - b);
                  chart(s, {
                    tooltip: {trigger: 'axis', axisPointer: {type: 'shadow'}},
                    legend: {bottom: 4, type: 'scroll'},
                    grid: {left: 64, right: 80, top: 32, bottom: 56},
                    xAxis: {type: 'category', name: 'batch size', data: sizes.map(String)},
                    yAxis: {type: 'value', name: 'count'},
                    series: sized.map(r => ({name: runName(r), type: 'bar', stack: 'runs',
                        data: sizes.map(size => r.server.batch_sizes[size] || 0)}))
                  });
                } else {
                  s.append(el('p', {class: 'note'}, 'No batch sizes were reported.'));
                }
                s.append(el('h3', null, 'Worker timings'));
                s.append(table([col('run'), col('queue p50 ms', 'num'), col('queue p99 ms', 'num'),
                    col('inference p50 ms', 'num'), col('inference p99 ms', 'num'), col('cached replies', 'num')],
                    served.map(r => {
                      const q = r.server.queue_ms || {};
                      const inf = r.server.inference_ms || {};
                      return [runName(r), num(q.p50), num(q.p99), num(inf.p50), num(inf.p99),
                          num(r.server.cached_replies)];
                    })));
              }

              function failuresByKind() {
                const failing = runs.filter(r => r.failures > 0 || keys(r.failures_by_kind).length);
                if (!failing.length) return;
                const s = section('Failures by kind');
                const kinds = [...new Set(failing.flatMap(r => keys(r.failures_by_kind)))].sort();
                if (!kinds.length) {
                  s.append(el('p', {class: 'note'}, 'Failures were counted but not broken down by kind.'));
                  return;
                }
                chart(s, {
                  tooltip: {trigger: 'axis', axisPointer: {type: 'shadow'}},
                  legend: {bottom: 4, type: 'scroll'},
                  grid: {left: 64, right: 24, top: 32, bottom: 56},
                  xAxis: {type: 'category', data: kinds},
                  yAxis: {type: 'value', name: 'failures'},
                  series: failing.map(r => ({name: runName(r), type: 'bar', stack: 'runs',
                      data: kinds.map(k => (r.failures_by_kind || {})[k] || 0)}))
                });
                s.append(table([col('run'), col('kind'), col('count', 'num')], failing.flatMap(r =>
                    keys(r.failures_by_kind).map(k => [runName(r), k, num(r.failures_by_kind[k])]))));
              }

              function profiles() {
                const list = Array.isArray(report.profiles) ? report.profiles : [];
                if (!list.length) return;
                const s = section('Profiles', 'The hottest methods of each profiled process from JFR samples: by '
                    + 'self time (where the CPU was) and by total time (what it was in the middle of), the two '
                    + 'views cProfile gives as tottime and cumtime.');
                const columns = [col('method', 'method'), col('samples', 'num'), col('%', 'num')];
                const rows = methods => (Array.isArray(methods) ? methods : [])
                    .map(m => [m.method || '–', num(m.samples), num(m.percent, 1)]);
                for (const p of list) {
                  s.append(el('h3', null, p.process || 'process'));
                  const meta = [num(p.samples) + ' samples'];
                  if (p.jfr_file) meta.push(p.jfr_file);
                  s.append(el('p', {class: 'meta'}, meta.join(' · ')));
                  s.append(el('div', {class: 'pair'}, [
                      el('div', null, [el('h4', null, 'By self time'), table(columns, rows(p.by_self_time))]),
                      el('div', null, [el('h4', null, 'By total time'), table(columns, rows(p.by_total_time))])]));
                }
              }

              // One broken section must not blank the rest of the report.
              for (const [name, build] of [['header', header], ['summary', summary], ['timelines', timelines],
                  ['latency vs throughput', sweep], ['batch sizes', server], ['failures', failuresByKind],
                  ['profiles', profiles]]) {
                try {
                  build();
                } catch (e) {
                  errors++;
                  console.error(e);
                  root.append(el('p', {class: 'error'}, 'Could not draw the ' + name + ': ' + e));
                }
              }
              window.addEventListener('resize', () => charts.forEach(c => c.resize()));
              document.body.dataset.errors = String(errors);
              document.body.dataset.chartsRendered = String(charts.length);
              document.body.dataset.ready = 'true';
            })();
            """;
}
