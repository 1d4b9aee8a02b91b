"""The report: one self-contained HTML page in English and Chinese, its maps and charts, seen in Chromium."""

from __future__ import annotations

import copy
import dataclasses
import re
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from markupsafe import escape

import exquisite
from exquisite.analysis import Analysis
from exquisite.config import region_from_dict
from exquisite.districts import osm_districts
from exquisite.outputs import report as report_module
from exquisite.outputs.charts import LABEL_WIDTH, VALUE_WIDTH, WIDTH, Row, bar_chart
from exquisite.outputs.i18n import Formatter, catalogue_path, translations
from exquisite.outputs.maps import MapFrame, classify
from exquisite.outputs.report import render_report

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUTPUTS = Path(str(resources.files("exquisite.outputs")))


@pytest.fixture(scope="module")
def analysis(helsinki_pbf: Path, tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    """The demo city with an age split and two districts (a west and an east half, names in two scripts)."""
    west, south, east, north = 24.9351762, 60.1641550, 24.9534145, 60.1791130
    middle = (west + east) / 2
    districts = gpd.GeoDataFrame(
        {"name": ["Länsi / 西区", "Itä / 东区"]},
        geometry=[shapely.box(west, south, middle, north), shapely.box(middle, south, east, north)],
        crs=4326,
    )
    path = tmp_path_factory.mktemp("districts") / "districts.gpkg"
    districts.to_file(path)
    region = region_from_dict(
        {
            "name": "Helsinki (demo)",
            "country": "FI",
            "osm": str(helsinki_pbf),
            "population": {
                "source": "buildings",
                "age_shares": {"child": 0.12, "adult": 0.65, "older": 0.23},
            },
            "districts": str(path),
        },
        base_dir=helsinki_pbf.parent,
    )
    return exquisite.analyse(region)


@pytest.fixture(scope="module")
def reports(analysis: Analysis) -> dict[str, str]:
    return {lang: render_report(analysis, lang) for lang in ("en", "zh")}


# ------------------------------------------------------------------------------------------- self-contained
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_report_makes_no_external_reference(reports: dict[str, str], lang: str) -> None:
    html = reports[lang]
    assert "http" not in html.lower()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*//""", html, re.IGNORECASE)
    assert not re.search(r"""\bsrc\s*=""", html, re.IGNORECASE), "no src attribute at all: nothing is loaded"
    assert "@import" not in html
    for target in re.findall(r"url\(\s*['\"]?([^'\")]*)", html):
        assert target.startswith("data:"), target
    assert "xmlns" not in html
    # links only point inside the page
    for target in re.findall(r"""href\s*=\s*["']([^"']*)""", html):
        assert target.startswith("#"), target
    assert "<script" not in html.lower()


def test_report_stays_small(reports: dict[str, str]) -> None:
    # the demo's three maps share one copy of the streets; a whole city stays a few MB
    assert len(reports["en"].encode("utf-8")) < 2_000_000
    assert reports["en"].count('<use href="#streets"/>') == reports["en"].count('class="map"') - 1


def test_large_street_drawings_leave_out_the_finest_classes(
    analysis: Analysis, reports: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    full = reports["en"]
    sizes = {name: len(d) for name, d in re.findall(r'<path class="street (\w+)"[^>]* d="([^"]*)"', full)}
    assert set(sizes) == {"major", "minor", "path"}
    # a budget below major + minor + path but above major + minor drops only the footpaths
    settings = copy.deepcopy(report_module.settings())
    settings["map"]["street_bytes_max"] = sizes["major"] + sizes["minor"] + 1
    monkeypatch.setattr(report_module, "settings", lambda: settings)
    html = render_report(analysis, "en")
    assert 'class="street major"' in html
    assert 'class="street minor"' in html
    assert 'class="street path"' not in html


# ------------------------------------------------------------------------------------------- languages
def test_both_languages_render_with_their_lang(reports: dict[str, str]) -> None:
    en, zh = reports["en"], reports["zh"]
    assert '<html lang="en">' in en
    assert '<html lang="zh">' in zh
    assert "Key figures" in en
    assert "Key figures" not in zh
    for chinese in ("主要指标", "人口分布", "方法与说明", "数据来源与署名", "十五分钟生活圈"):
        assert chinese in zh
    # Babel's formats for the locale: Chinese long date, grouped numbers
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日", zh)
    # the place's name carries its own language (Finnish), English source notes carry lang="en" in Chinese
    assert '<span lang="fi">Helsinki (demo)</span>' in zh
    assert 'lang="en"' in zh
    assert 'lang="en"' not in en.replace('<html lang="en">', "")


def test_every_template_msgid_is_in_both_catalogues() -> None:
    msgids: set[str] = set()
    options = {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true"}
    sources = [(OUTPUTS / "templates" / "report.html", "jinja2", options)] + [
        (OUTPUTS / name, "python", {}) for name in ("report.py", "charts.py", "maps.py")
    ]
    for path, method, opts in sources:
        for _lineno, message, _comments, _context in extract_from_file(
            method, str(path), keywords={"_": None, "gettext": None}, options=opts
        ):
            msgids.add(message[0] if isinstance(message, tuple) else message)
    assert len(msgids) > 100
    for lang in ("en", "zh"):
        with catalogue_path(lang).open("rb") as fh:
            catalogue = read_po(fh)
        missing = sorted(m for m in msgids if m not in catalogue)
        assert not missing, f"{lang} catalogue lacks {missing[:5]}"
        if lang == "zh":
            for msgid in msgids:
                text = catalogue[msgid].string
                assert text, f"no Chinese for {msgid!r}"
                # placeholders survive translation
                assert sorted(re.findall(r"%\(\w+\)s", text)) == sorted(re.findall(r"%\(\w+\)s", msgid))


def test_catalogues_compile_at_load() -> None:
    zh = translations("zh")
    assert zh.gettext("Key figures") == "主要指标"
    assert translations("en").gettext("Key figures") == "Key figures"
    with pytest.raises(ValueError, match="unknown report language"):
        translations("fr")


def test_numbers_follow_the_locale() -> None:
    en, zh = Formatter("en"), Formatter("zh")
    assert en.number(1234567.891, 1) == "1,234,567.9"
    assert zh.number(1234567.891, 0) == "1,234,568"
    assert en.percent(42.125, 1) == "42.1%"
    assert en.share(0.5) == "50%"
    assert en.compact(1.0) == "1"
    assert en.compact(1.08) == "1.08"
    assert en.number(None) == "–"
    assert en.number(float("nan")) == "–"


# ------------------------------------------------------------------------------------------- structure
class _Outline(HTMLParser):
    """Headings, tables with their captions and header scopes, SVGs with their titles."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[int] = []
        self.tables = 0
        self.captions = 0
        self.th_without_scope = 0
        self.svgs = 0
        self.svg_titles = 0
        self.ids: list[str] = []
        self._in_svg = False
        self._svg_first = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(str(a["id"]))
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        elif tag == "table":
            self.tables += 1
        elif tag == "caption":
            self.captions += 1
        elif tag == "th" and "scope" not in a:
            self.th_without_scope += 1
        elif tag == "svg":
            self.svgs += 1
            self._svg_first = True
            return
        elif tag == "title" and self._svg_first:
            self.svg_titles += 1
        self._svg_first = False


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_report_is_accessible_in_structure(reports: dict[str, str], lang: str) -> None:
    outline = _Outline()
    outline.feed(reports[lang])
    assert outline.headings[0] == 1
    assert outline.headings.count(1) == 1
    for before, after in zip(outline.headings, outline.headings[1:], strict=False):
        assert after <= before + 1, "a heading level is skipped"
    assert outline.tables > 5
    assert outline.captions == outline.tables
    assert outline.th_without_scope == 0
    assert outline.svgs >= 6
    assert outline.svg_titles == outline.svgs
    assert len(outline.ids) == len(set(outline.ids)), "element ids repeat"


def test_sections_follow_the_records(analysis: Analysis, reports: dict[str, str]) -> None:
    full = reports["en"]
    for section in ('id="life-circles"', 'id="sdg11"', 'id="peers"', 'id="equity"', 'id="districts"'):
        assert section in full
    assert "Länsi / 西区" in full
    kept = [r for r in analysis.indicators if not r.id.startswith("equity_")]
    no_equity = dataclasses.replace(analysis, indicators=kept)
    html = render_report(no_equity, "en")
    assert 'id="equity"' not in html
    assert 'id="life-circles"' in html
    assert "equity_gap" not in html
    bare = render_report(dataclasses.replace(analysis, indicators=[]), "zh")
    for section in ('id="life-circles"', 'id="sdg11"', 'id="peers"', 'id="equity"', 'class="card"'):
        assert section not in bare
    assert 'id="people"' in bare
    assert "本次运行没有指标记录。" in bare


def test_district_table_shows_the_caveat_of_approximate_districts(
    analysis: Analysis, reports: dict[str, str], helsinki_pbf: Path
) -> None:
    # districts from a file carry no caveat: the table stands alone
    assert analysis.districts is not None
    assert analysis.districts.caveat is None
    assert "district-caveat" not in reports["en"]
    # the same run with the OSM place nodes' approximate districts (districts: osm)
    osm, _warnings = osm_districts(helsinki_pbf, analysis.inputs.crs, analysis.inputs.boundary)
    assert osm is not None
    assert osm.caveat is not None
    approximate = dataclasses.replace(analysis, districts=osm)
    en, zh = (render_report(approximate, lang) for lang in ("en", "zh"))
    for html in (en, zh):
        section = html[html.index('<section id="districts"') : html.index('<section id="methods"')]
        assert section.count('class="note district-caveat"') == 1
        assert section.index("</table>") < section.index("district-caveat")
    section = en[en.index('<section id="districts"') : en.index('<section id="methods"')]
    assert f'<p class="note district-caveat">{escape(osm.caveat)}</p>' in section
    section = zh[zh.index('<section id="districts"') : zh.index('<section id="methods"')]
    note = re.search(r'<p class="note district-caveat">([^<]+)</p>', section)
    assert note is not None
    assert note.group(1).startswith("分区边界为近似值")
    assert "(place=suburb, place=quarter, place=neighbourhood)" in osm.caveat
    assert "（place=suburb, place=quarter, place=neighbourhood）" in note.group(1)
    # apart from the note, the section is the one of the file's districts
    section = en[en.index('<section id="districts"') : en.index('<section id="methods"')]
    plain = reports["en"]
    plain = plain[plain.index('<section id="districts"') : plain.index('<section id="methods"')]
    assert re.sub(r'<p class="note district-caveat">[^<]*</p>\n', "", section) == plain


def test_headline_cards_show_the_records(analysis: Analysis, reports: dict[str, str]) -> None:
    transit = analysis.find("sdg_11_2_1", variant="any")
    completeness = analysis.find("lifecircle_15min_completeness", profile="gb50180")
    cards = re.findall(r'<li class="card">(.*?)</li>', reports["en"], re.S)
    assert len(cards) == 5
    assert f"{transit.value:.1f}%" in cards[0]
    assert f"{completeness.value:.1f}%" in cards[3]
    assert "Daily living score" in cards[4]


# ------------------------------------------------------------------------------------------- maps, charts
def test_map_frame_projects_and_flips_y() -> None:
    # A 100 m x 50 m box drawn 200 units wide: 2 units per metre, y turned down, so (0, 0) -> (0, 100)
    # and (100, 50) -> (200, 0); the polygon's ring closes with Z.
    frame = MapFrame.around(shapely.box(0, 0, 100, 50), width=200, margin=0.0)
    assert frame.scale == pytest.approx(2.0)
    assert frame.height == pytest.approx(100.0)
    assert frame.path([shapely.LineString([(0, 0), (100, 50)])]) == "M0 100 200 0"
    assert frame.path([shapely.box(0, 0, 50, 50)], closed=True) == "M100 100 100 0 0 0 0 100 100 100Z"
    # Two vertices within 0.05 unit of each other collapse into one; a line left with one point is dropped.
    assert frame.path([shapely.LineString([(10, 10), (10.01, 10)])]) == ""
    # a 1 km scale bar at most 250 units long at 0.2 units per metre: 1000 m = 200 units
    metres, units = MapFrame(0, 0, 5000, 5000, 1000).scale_bar(250)
    assert (metres, units) == (1000, pytest.approx(200.0))


def test_classify_puts_the_top_in_the_last_class() -> None:
    values = np.array([0.0, 0.24, 0.25, 0.99, 1.0, np.nan])
    assert classify(values, [0, 0.25, 0.5, 0.75, 0.999999, 1]).tolist() == [0, 0, 1, 3, 4, -1]


def test_bar_chart_bars_are_proportional() -> None:
    # The plot runs from LABEL_WIDTH to WIDTH - VALUE_WIDTH (760 - 250 - 64 = 446 units for 0-100),
    # so 50% is a 223-unit bar and 25% a 111.5-unit one.
    svg = bar_chart(
        "c",
        "Title",
        [Row("A", [50.0]), Row("B", [25.0]), Row("C", [None])],
        ["s"],
        str,
        domain=(0.0, 100.0),
    )
    plot = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    assert plot == 446
    widths = [float(w) for w in re.findall(r'<rect class="s0" x="[\d.]+" y="[\d.]+" width="([\d.]+)"', svg)]
    assert widths == [pytest.approx(223.0), pytest.approx(111.5)]
    assert '<title id="c-title">Title</title>' in svg
    assert "xmlns" not in svg
    assert 'class="value none"' in svg  # the missing value is shown as a dash, not as a zero bar


# ------------------------------------------------------------------------------------------- in Chromium
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium")
def test_report_in_chromium_makes_no_request(analysis: Analysis, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for lang in ("en", "zh"):
                run = analysis.write(tmp_path / lang, lang=lang)
                report = run / "report.html"
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                requests: list[str] = []
                page.on("request", lambda r, seen=requests: seen.append(r.url))
                page.goto(report.as_uri(), wait_until="load")
                assert requests == [report.as_uri()], f"unexpected requests: {requests}"
                assert page.evaluate("document.documentElement.lang") == lang
                # nothing wider than the window: no sideways scrolling at 1280 px
                assert page.evaluate("document.documentElement.scrollWidth") <= 1280
                # the maps are drawn: every street path has a box of some size
                assert page.evaluate("document.querySelectorAll('svg.map').length") >= 3
                assert page.evaluate(
                    "Array.from(document.querySelectorAll('svg.map')).every(s => s.getBBox().width > 100)"
                )
                page.screenshot(path=str(shots / f"report_{lang}.png"), full_page=True)
                page.emulate_media(media="print")
                page.screenshot(path=str(shots / f"report_{lang}_print.png"), full_page=True)
                page.close()
        finally:
            browser.close()
    print(f"report screenshots: {shots}")
    assert sorted(f.name for f in shots.iterdir()) == [
        "report_en.png",
        "report_en_print.png",
        "report_zh.png",
        "report_zh_print.png",
    ]
