"""The web pages, through FastAPI's test client against a real demo run folder (made once per session).

Every core task is done here with plain GETs and POSTs, as a browser without JavaScript would.
"""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from markupsafe import escape

from exquisite.web.app import SECURITY_HEADERS, create_app
from exquisite.web.catalogue import DOWNLOADABLE, RunCatalogue
from exquisite.web.ui import accept_language, safe_next, web_translations

WEB = Path(__file__).resolve().parents[1] / "src" / "exquisite" / "web"
LOCALE = WEB.parent / "data" / "locale"


@pytest.fixture(scope="session")
def runs_root(demo_runs_root: Path) -> Path:
    return demo_runs_root


@pytest.fixture(scope="session")
def app(runs_root: Path) -> Any:
    return create_app(runs_root)


@pytest.fixture(scope="session")
def client(app: Any) -> TestClient:
    """A client without cookies (tests that need cookies make their own with :func:`browser`)."""
    return TestClient(app, raise_server_exceptions=False)


def browser(app: Any, **cookies: str) -> TestClient:
    """A client of its own, with these cookies (as a browser that has them)."""
    return TestClient(app, raise_server_exceptions=False, cookies=cookies)


@pytest.fixture(scope="session")
def run_id(runs_root: Path) -> str:
    run = RunCatalogue(runs_root).latest()
    assert run is not None
    return run.id


@pytest.fixture(scope="session")
def street_place(client: TestClient, run_id: str) -> dict[str, str]:
    """A place chosen the no-JS way: search for a street with a typo, take the first radio button."""
    page = client.get(f"/runs/{run_id}/finder", params={"q": "Mannerheimintei"})
    assert page.status_code == 200
    options = re.findall(r'<input type="radio" id="(match-\d+)" name="place" value="([0-9a-f]+)"', page.text)
    assert options, "the search listed no place to choose"
    label = re.search(rf'<label for="{options[0][0]}"><span[^>]*>([^<]+)</span>', page.text)
    assert label is not None
    return {"id": options[0][1], "label": label.group(1)}


class _Page(HTMLParser):
    """Collects what the structure tests look at: tags with attributes, labels, ids, scripts and text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: list[str] = []
        self.label_for: set[str] = set()
        self.inline_script = False
        self._in_script = False
        self._open_buttons: list[list[str]] = []
        self.button_texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if a.get("id"):
            self.ids.append(str(a["id"]))
        if tag == "label" and a.get("for"):
            self.label_for.add(str(a["for"]))
        if tag == "script":
            self._in_script = True
        if tag == "button":
            self._open_buttons.append([])

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False
        if tag == "button" and self._open_buttons:
            self.button_texts.append("".join(self._open_buttons.pop()).strip())

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_script = True
        for parts in self._open_buttons:
            parts.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _pages(run_id: str, place: str) -> dict[str, str]:
    return {
        "index": "/?list",
        "dashboard": f"/runs/{run_id}",
        "finder": f"/runs/{run_id}/finder",
        "matches": f"/runs/{run_id}/finder?q=apteekki",
        "answer": f"/runs/{run_id}/finder?place={place}&profile=older",
        "settings": "/settings",
    }


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("mode", ["standard", "elders"])
def test_every_page_renders_in_both_languages_and_modes(
    client: TestClient, run_id: str, street_place: dict[str, str], lang: str, mode: str
) -> None:
    html_lang = {"en": "en", "zh": "zh-Hans"}[lang]
    for name, url in _pages(run_id, street_place["id"]).items():
        sep = "&" if "?" in url else "?"
        response = client.get(f"{url}{sep}lang={lang}&mode={mode}")
        assert response.status_code == 200, (name, response.text[:500])
        assert response.headers["content-type"].startswith("text/html")
        text = response.text
        assert f'<html lang="{html_lang}" class="mode-{mode}">' in text, name
        page = _parse(text)
        # one h1, a main landmark, a skip link to it, unique ids
        assert sum(1 for tag, _a in page.tags if tag == "h1") == 1, name
        assert any(tag == "main" and a.get("id") == "main" for tag, a in page.tags), name
        assert 'href="#main"' in text
        duplicates = {i for i in page.ids if page.ids.count(i) > 1}
        assert not duplicates, (name, duplicates)
        # every visible form field has a label; every button and link has a name
        for tag, a in page.tags:
            if tag in {"input", "select", "textarea"} and a.get("type") not in {"hidden", "submit"}:
                assert a.get("id") in page.label_for, (name, tag, a)
        assert all(page.button_texts), (name, page.button_texts)
        if lang == "zh":
            assert re.search(r"[\u4e00-\u9fff]", text)
            assert "Skip to main content" not in text


def test_dashboard_shows_every_section_with_its_records(
    client: TestClient, runs_root: Path, run_id: str
) -> None:
    run = RunCatalogue(runs_root).get(run_id)
    text = client.get(f"/runs/{run_id}").text
    for anchor in ("sdg11", "life-circles", "equity", "gaps", "districts", "downloads"):
        assert f'id="{anchor}"' in text
    # one SDG 11 card per city-wide record for everyone, each with a definition and its sources
    sdg = [
        r
        for r in run.indicators
        if r["id"].startswith("sdg_11") and r["group"] == "all" and r["area"] == "city"
    ]
    assert text.count('class="card indicator-card"') == len(sdg)
    assert text.count("<dt>Sources</dt>") == len(sdg)
    access = next(r for r in sdg if r["id"] == "sdg_11_7_1_access" and r["parameters"]["variant"] == "large")
    assert f"{access['value']:.1f}%" in text
    # charts are inline SVG with a title and description; the map is SVG of the city's own streets
    assert text.count('<svg class="chart"') >= 4
    assert '<svg class="map"' in text
    assert 'class="street ' in text
    # the demo's districts (approximate, from the OSM place nodes): a row of key figures for each
    assert "without districts" not in text
    districts = run.areas.loc[run.areas["level"] == "district", "name"]
    assert len(districts) == 6
    table = text[text.index('id="districts"') : text.index('id="downloads"')]
    assert table.count("<tr>") == len(districts) + 1
    for name in districts:
        assert f">{name}</th>" in table
    # under the table, what areas.parquet says of their boundaries, once, in the reader's language
    caveat = run.areas["caveat"].dropna().unique()
    assert len(caveat) == 1
    assert caveat[0].startswith("District boundaries are approximate")
    assert table.index("</table>") < table.index(f'<p class="note district-caveat">{escape(caveat[0])}</p>')
    zh = client.get(f"/runs/{run_id}", params={"lang": "zh"}).text
    zh_table = zh[zh.index('id="districts"') : zh.index('id="downloads"')]
    assert zh_table.count("<tr>") == len(districts) + 1
    note = re.findall(r'<p class="note district-caveat"([^>]*)>([^<]+)</p>', zh_table)
    assert note == [("", note[0][1])]  # Chinese, the page's language: no lang attribute
    assert note[0][1].startswith("分区边界为近似值")
    assert "place=suburb, place=quarter, place=neighbourhood" in note[0][1]
    assert zh_table.index("</table>") < zh_table.index("district-caveat")


def test_district_caveats_are_shown_in_the_readers_language(runs_root: Path, run_id: str) -> None:
    from exquisite.outputs.report import district_caveat

    run = RunCatalogue(runs_root).get(run_id)
    stored = str(run.areas["caveat"].dropna().iloc[0])
    assert district_caveat(stored, "en") == {"text": stored, "lang": ""}
    zh = district_caveat(stored, "zh")
    assert zh["lang"] == ""
    assert "Voronoi" in zh["text"]
    assert "District boundaries" not in zh["text"]
    # a caveat the data file does not know stays as written, marked as English
    other = "Districts drawn by hand from a 1990 paper map."
    assert district_caveat(other, "zh") == {"text": other, "lang": "en"}


def test_elders_mode_is_a_simplified_page(app: Any, client: TestClient, run_id: str) -> None:
    standard = client.get(f"/runs/{run_id}").text
    elders = browser(app, mode="elders").get(f"/runs/{run_id}").text
    assert 'class="mode-elders"' in elders
    # the finder comes first, dense parts are left out, and the page is much smaller
    assert elders.index('id="start-q"') < elders.index('id="sdg11"')
    assert 'id="equity"' not in elders
    assert 'id="districts"' not in elders
    assert '<svg class="map"' not in elders
    assert "<details>" not in elders
    assert len(elders) < len(standard) / 4
    # the gaps as a short list of sentences instead of the sortable table
    assert 'id="gap-table"' in standard
    assert 'id="gap-table"' not in elders
    gaps = re.findall(r"<li>Grid cell [^<]+ residents lack [^<]+\.</li>", elders)
    assert 1 <= len(gaps) <= 5
    css = (WEB / "static" / "web.css").read_text(encoding="utf-8")
    block = css[css.index("html.mode-elders {") :]
    scale = float(re.search(r"font-size: ([\d.]+)%", block).group(1))  # type: ignore[union-attr]
    assert 16 * scale / 100 >= 18  # body text at least 18 px
    assert float(re.search(r"html.mode-elders body \{ line-height: ([\d.]+)", css).group(1)) >= 1.3  # type: ignore[union-attr]
    assert "--target: 44px" in block
    assert "--target: 24px" in css  # the standard view's minimum target size


def test_language_comes_from_query_cookie_or_browser(app: Any, client: TestClient, run_id: str) -> None:
    url = f"/runs/{run_id}/finder"
    assert '<html lang="zh-Hans"' in client.get(url, headers={"Accept-Language": "zh-CN,zh;q=0.9"}).text
    assert '<html lang="en"' in client.get(url, headers={"Accept-Language": "fr, de;q=0.5"}).text
    english = browser(app, lang="en")
    assert '<html lang="en"' in english.get(url, headers={"Accept-Language": "zh"}).text
    assert '<html lang="zh-Hans"' in english.get(url + "?lang=zh").text
    assert accept_language("en;q=0.2, zh-TW;q=0.8") == "zh"
    assert accept_language("zh;q=0, en") == "en"
    assert accept_language("") is None


def test_settings_form_sets_cookies_and_goes_back(app: Any, run_id: str) -> None:
    client = browser(app)
    back = f"/runs/{run_id}/finder?lang=en&profile=older"
    response = client.post(
        "/settings", data={"lang": "zh", "mode": "elders", "next": back}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/runs/{run_id}/finder?profile=older"
    cookies = response.headers.get_list("set-cookie")
    assert any(c.startswith("lang=zh;") and "Max-Age=31536000" in c for c in cookies)
    assert any(c.startswith("mode=elders;") for c in cookies)
    page = client.get(response.headers["location"])  # the client keeps the cookies, as a browser does
    assert '<html lang="zh-Hans" class="mode-elders">' in page.text
    # the form never sends a reader to another site
    for target in ("https://evil.example/", "//evil.example", "javascript:alert(1)"):
        assert safe_next(target) == "/"
        r = client.post("/settings", data={"lang": "en", "next": target}, follow_redirects=False)
        assert r.headers["location"] == "/"


def test_mixed_language_parts_carry_their_lang(
    client: TestClient, run_id: str, street_place: dict[str, str]
) -> None:
    zh = client.get(f"/runs/{run_id}?lang=zh").text
    en = client.get(f"/runs/{run_id}?lang=en").text
    # the city's name is Finnish on both pages; English sources carry lang="en" on the Chinese one
    assert '<span lang="fi">Helsinki (demo)</span>' in zh
    assert '<span lang="fi">Helsinki (demo)</span>' in en
    assert '<li lang="en">OpenStreetMap (' in zh
    assert 'lang="en"' not in en.replace('<html lang="en"', "")
    # the language switch names the other language in that language
    assert 'lang="zh-Hans">中文</button>' in en
    assert 'lang="en">English</button>' in zh
    answer = client.get(f"/runs/{run_id}/finder?place={street_place['id']}&lang=zh").text
    assert re.search(r'<span class="place-name" lang="fi">', answer)


def test_finder_without_javascript_from_search_to_answer(
    client: TestClient, runs_root: Path, run_id: str, street_place: dict[str, str]
) -> None:
    from exquisite.web.finder import finder_for
    from exquisite.web.places import place_index_for

    assert street_place["label"] == "Mannerheimintie"  # found despite the typo
    response = client.get(f"/runs/{run_id}/finder", params={"place": street_place["id"], "profile": "older"})
    assert response.status_code == 200
    text = response.text
    for minutes in (5, 10, 15):
        assert f"Within {minutes} minutes on foot" in text
    assert 'id="nearest-title"' in text
    assert 'class="route"' in text
    # the walking times shown are the finder's own answer for that place and profile
    run = RunCatalogue(runs_root).get(run_id)
    hit = next(h for h in place_index_for(run).search("Mannerheimintie") if h.label == "Mannerheimintie")
    services = finder_for(run).services(hit.lon, hit.lat, "older")
    shown = 0
    for category in services.categories:
        if category.essential and category.nearest is not None and category.nearest.name:
            minutes = max(1, round(category.nearest.minutes))
            assert f"{category.label_en}:</span>" in text
            pattern = re.escape(category.nearest.name) + r"</span>,\s*<strong>" + f"{minutes} min</strong>"
            assert re.search(pattern, text), category.category
            shown += 1
        if category.essential and category.nearest is None:
            assert f'{category.label_en}:</span>\n        <span class="none">none within 30 minutes' in text
    assert shown >= 3
    # the same answer in the simplified page: the list without the map
    elders = client.get(f"/runs/{run_id}/finder?place={street_place['id']}&profile=older&mode=elders").text
    assert 'id="nearest-title"' in elders
    assert '<svg class="map"' not in elders


def test_finder_by_neighbourhood_and_by_point(client: TestClient, run_id: str) -> None:
    form = client.get(f"/runs/{run_id}/finder").text
    areas = re.findall(r'<option value="([0-9a-f]{12})"[^>]*>([^<]+)</option>', form)
    assert len(areas) >= 2
    answer = client.get(f"/runs/{run_id}/finder", params={"area": areas[0][0], "profile": "child"})
    assert answer.status_code == 200
    assert "Nearest of each kind" in answer.text
    # a typed point (what the map click and "my location" fill in) answers too
    point = client.get(
        f"/runs/{run_id}/finder", params={"lat": "60.1712", "lon": "24.9473", "profile": "wheelchair"}
    )
    assert point.status_code == 200
    assert "Wheelchair" in point.text


def test_bad_finder_input_gets_a_friendly_page(client: TestClient, run_id: str) -> None:
    url = f"/runs/{run_id}/finder"
    unknown = client.get(url, params={"place": "0123456789ab"})
    assert unknown.status_code == 404
    assert "We do not know the place" in unknown.text
    nothing = client.get(url, params={"q": "qqxxzzvvkk"})
    assert nothing.status_code == 404
    assert "Check the spelling" in nothing.text
    assert 'id="finder-q"' in nothing.text  # the form is there to try again
    outside = client.get(url, params={"lat": 10, "lon": 10, "lang": "zh"})
    assert outside.status_code == 422
    assert '<html lang="zh-Hans"' in outside.text
    assert "范围之外" in outside.text
    absurd = client.get(url, params={"lat": 1e9, "lon": "x"})
    assert absurd.status_code == 400
    assert "not valid" in absurd.text
    profile = client.get(url, params={"q": "apteekki", "profile": "rocket"})
    assert profile.status_code == 400
    assert "Unknown walking profile" in profile.text
    empty = client.get(url, params={"q": "  "})
    assert empty.status_code == 400
    assert "Type an address" in empty.text


def test_unknown_run_and_file_get_a_friendly_404(client: TestClient, run_id: str) -> None:
    for url in ("/runs/nowhere/20990101T000000Z", "/runs/nowhere/20990101T000000Z/finder", "/no/such/page"):
        response = client.get(url + "?lang=zh")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert '<html lang="zh-Hans"' in response.text
        assert "城市列表" in response.text
    for name in ("secret.txt", "..%2Fmanifest.json", "manifest.json", "report.pdf"):
        response = client.get(f"/runs/{run_id}/files/{name}")
        assert response.status_code == 404


def test_gap_table_sorts_without_javascript(client: TestClient, run_id: str) -> None:
    def column(sort: str, order: str, index: int) -> list[float]:
        text = client.get(f"/runs/{run_id}", params={"sort": sort, "order": order}).text
        table = text[text.index('id="gap-table"') : text.index("</table>", text.index('id="gap-table"'))]
        rows = re.findall(r"<tr><th scope=\"row\">([^<]+)</th>((?:<td[^>]*>[^<]*</td>)+)</tr>", table)
        assert rows
        if index == 0:
            return rows  # type: ignore[return-value]
        cells = [re.findall(r"<td[^>]*>([^<]*)</td>", r[1])[index - 1] for r in rows]
        return [float(c.replace(",", "").rstrip("%")) for c in cells]

    people_up = column("people", "asc", 1)
    assert people_up == sorted(people_up)
    assert people_up[0] < people_up[-1]
    assert column("people", "desc", 1) == sorted(people_up, reverse=True)
    completeness = column("completeness", "asc", 3)
    assert completeness == sorted(completeness)
    text = client.get(f"/runs/{run_id}", params={"sort": "lacking", "order": "desc"}).text
    assert 'aria-sort="descending"' in text
    assert re.search(r'id="sort-people" href="[^"]*sort=people&amp;order=desc', text)
    assert client.get(f"/runs/{run_id}", params={"sort": "drop table"}).status_code == 400


def test_gap_cells_agree_with_the_run(runs_root: Path, run_id: str) -> None:
    from exquisite.web.pages_dashboard import Dashboard
    from exquisite.web.ui import UI

    run = RunCatalogue(runs_root).get(run_id)
    board = Dashboard(run, UI("en", "standard"))
    tier, _profile, profiles = board.gap_choices()
    for profile in profiles:
        cells = board.gap_cells(tier, profile)
        origins = run.origins
        assert cells["people"].sum() == pytest.approx(origins["population"].sum())
        missing = origins[f"lifecircle__{tier}__missing__{profile}"].to_numpy(dtype=float)
        people = origins["population"].to_numpy(dtype=float)
        # people lacking and items missing, worked out from distances and radii, equal the run's own column
        assert cells["lacking"].sum() == pytest.approx(people[missing > 0].sum())
        assert (cells["missing"] * cells["people"]).sum() == pytest.approx((missing * people).sum())
        assert np.all((cells["completeness"] >= 0) & (cells["completeness"] <= 1))


def test_downloads_serve_the_run_files(client: TestClient, runs_root: Path, run_id: str) -> None:
    run = RunCatalogue(runs_root).get(run_id)
    text = client.get(f"/runs/{run_id}").text
    links = re.findall(r'href="(/runs/[^"]+/files/([^"]+))"', text)
    names = {name for _url, name in links}
    assert {
        "indicators.csv",
        "origins.parquet",
        "areas.parquet",
        "destinations.parquet",
        "network.parquet",
        "report.html",
    } <= names
    for url, name in links:
        response = client.get(url)
        assert response.status_code == 200
        assert response.content == run.file(name).read_bytes()
    assert [name for _url, name in links] == [n for n in DOWNLOADABLE if (run.folder / n).is_file()]
    assert ">Study area and districts (GeoParquet)</a>" in text
    areas = gpd.read_parquet(BytesIO(client.get(f"/runs/{run_id}/files/areas.parquet").content))
    assert list(areas["level"]) == ["city"] + ["district"] * 6
    zh = client.get(f"/runs/{run_id}", params={"lang": "zh"}).text
    assert ">研究区域和分区（GeoParquet）</a>" in zh
    csv = client.get(f"/runs/{run_id}/files/indicators.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert 'attachment; filename="indicators.csv"' in csv.headers["content-disposition"]


def test_streets_for_the_optional_map_are_the_run_streets(
    client: TestClient, runs_root: Path, run_id: str
) -> None:
    run = RunCatalogue(runs_root).get(run_id)
    data = client.get(f"/runs/{run_id}/streets.geojson").json()
    assert data["type"] == "FeatureCollection"
    assert len(data["features"]) == len(run.network)
    lon0, lat0, lon1, lat1 = run.manifest["parameters"]["boundary_wgs84_bounds"]
    coords = np.array([c for f in data["features"] for c in f["geometry"]["coordinates"]])
    middle = np.median(coords, axis=0)
    assert lon0 <= middle[0] <= lon1
    assert lat0 <= middle[1] <= lat1


def test_no_page_refers_to_another_host(
    client: TestClient, run_id: str, street_place: dict[str, str]
) -> None:
    urls = [
        *_pages(run_id, street_place["id"]).values(),
        "/runs/x/y",
        "/static/finder.js",
        "/static/web.css",
    ]
    for url in urls:
        text = client.get(url).text
        for attr, value in re.findall(r'\b(src|href|action|xlink:href)="([^"]*)"', text):
            assert value.startswith(("/", "#", "data:")) or value == "", (url, attr, value)
        assert not re.search(r"url\(\s*['\"]?(https?:)?//", text), url
        if url.endswith(".js"):
            assert "http://" not in text
            assert "https://" not in text


def test_security_headers_and_no_inline_script_or_style(
    client: TestClient, run_id: str, street_place: dict[str, str]
) -> None:
    for url in [*_pages(run_id, street_place["id"]).values(), "/runs/x/y", "/api/nothing"]:
        response = client.get(url)
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "unsafe-eval" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == SECURITY_HEADERS["Referrer-Policy"]
        if response.headers["content-type"].startswith("text/html"):
            page = _parse(response.text)
            assert not page.inline_script, url
            assert not any("style" in a for _tag, a in page.tags), url
            assert not any(k.startswith("on") for _tag, a in page.tags for k in a), url


def test_api_paths_answer_json_errors(client: TestClient) -> None:
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert "detail" in response.json()
    assert client.get("/api/openapi.json").json()["info"]["title"] == "Exquisite City"


def test_a_server_error_is_a_friendly_page(runs_root: Path) -> None:
    app = create_app(runs_root)

    def broken() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/broken", broken)
    app.add_api_route("/api/broken", broken)
    client = TestClient(app, raise_server_exceptions=False)
    page = client.get("/broken?lang=zh")
    assert page.status_code == 500
    assert '<html lang="zh-Hans"' in page.text
    assert "boom" not in page.text
    assert "Traceback" not in page.text
    assert "抱歉" in page.text
    api = client.get("/api/broken")
    assert api.status_code == 500
    assert api.json() == {"detail": "internal error"}
    # the server still answers afterwards
    assert client.get("/?list").status_code == 200


def test_index_lists_runs_and_redirects_to_the_only_one(
    client: TestClient, run_id: str, tmp_path: Path
) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == f"/runs/{run_id}"
    listing = client.get("/?list").text
    assert f'href="/runs/{run_id}"' in listing
    assert f'href="/runs/{run_id}/finder"' in listing
    switch = client.get("/runs", params={"run": run_id}, follow_redirects=False)
    assert switch.status_code == 303
    assert switch.headers["location"] == f"/runs/{run_id}"
    empty = TestClient(create_app(tmp_path)).get("/")
    assert empty.status_code == 200
    assert "exquisite demo" in empty.text


#: Python sources of the web pages and the governance service that the catalogue check reads (every module of
#: both packages: a module calling no gettext adds nothing; governance/notices.py writes its emails in English
#: and Chinese itself and uses no gettext domain, so it is read here only so that it stays that way).
GETTEXT_PACKAGES = (WEB, WEB.parent / "governance")


def _gettext_sources() -> list[tuple[Path, str, dict[str, Any]]]:
    """Every template and every Python module of the web pages and the governance service."""
    options = {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true"}
    sources: list[tuple[Path, str, dict[str, Any]]] = [
        (path, "jinja2", options) for path in sorted((WEB / "templates").glob("*.html"))
    ]
    sources += [(path, "python", {}) for package in GETTEXT_PACKAGES for path in sorted(package.glob("*.py"))]
    return sources


def _msgids(path: Path, method: str, options: dict[str, Any]) -> set[str]:
    found = set()
    for _lineno, message, _comments, _context in extract_from_file(
        method, str(path), keywords={"_": None, "gettext": None, "ngettext": (1, 2)}, options=options
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_every_msgid_is_in_both_catalogues() -> None:
    from exquisite.web import csrf

    sources = _gettext_sources()
    names = {path.name for path, _method, _opts in sources}
    assert {"pages_report.py", "pages_staff.py", "notices.py", "open311.py", "app.py"} <= names
    assert {"staff_report.html", "community.html", "communities.html", "report_status.html"} <= names
    by_source = {path: _msgids(path, method, opts) for path, method, opts in sources}
    # the governance pages' own words are read, not only the older pages'
    for name in ("pages_report.py", "pages_staff.py", "staff_report.html", "communities.html"):
        assert any(found for path, found in by_source.items() if path.name == name), name
    # notices.py writes both languages itself: no gettext call there
    assert not by_source[WEB.parent / "governance" / "notices.py"]
    msgids = set().union(*by_source.values())
    # messages passed to gettext at run time: the CSRF refusals (shown on the staff pages and the error page)
    msgids |= {csrf.EXPIRED, csrf.MISSING, csrf.MISMATCH, csrf.CROSS_SITE}
    assert len(msgids) > 400
    for lang in ("en", "zh"):
        with (LOCALE / lang / "LC_MESSAGES" / "web.po").open("rb") as fh:
            catalogue = read_po(fh)
        missing = sorted(m for m in msgids if m not in catalogue)
        assert not missing, f"{lang} web catalogue lacks {len(missing)}: {missing[:8]}"
        if lang == "zh":
            for msgid in msgids:
                message = catalogue[msgid]
                texts = message.string if isinstance(message.string, tuple) else (message.string,)
                for text in texts:
                    assert text, f"no Chinese for {msgid!r}"
                    # written in Chinese, unless the message is a unit or a name (no English word in it)
                    words = re.sub(r"%\(\w+\)s", "", msgid)
                    assert re.search(r"[\u4e00-\u9fff]", text) or not re.search(r"[A-Za-z]{4,}", words), (
                        f"the Chinese of {msgid!r} has no Chinese characters: {text!r}"
                    )
                    assert sorted(re.findall(r"%\(\w+\)s", text)) == sorted(re.findall(r"%\(\w+\)s", msgid))
    assert web_translations("zh").gettext("Service finder") == "身边服务查询"


# ------------------------------------------------------------------------------------------ governance pages

#: ``ReportEvent(... kind="...")`` in the code (a call's parentheses may hold calls of their own), and the
#: staff pages' ``_record(report, actor, "kind", ...)``.
_EVENT_KIND = re.compile(
    r'ReportEvent\((?:[^()]|\([^()]*\))*?kind="(\w+)"|_record\(\s*\w+,\s*\w+,\s*"(\w+)"', re.S
)


def _event_kinds_written() -> set[str]:
    """Every history kind the web pages and the governance service write."""
    kinds: set[str] = set()
    for package in GETTEXT_PACKAGES:
        for path in package.glob("*.py"):
            kinds |= {a or b for a, b in _EVENT_KIND.findall(path.read_text(encoding="utf-8"))}
    return kinds


def test_every_event_kind_the_code_writes_has_a_label() -> None:
    from exquisite.web.pages_staff import event_kind_label

    kinds = _event_kinds_written()
    # the kinds of reports.submit, confirm and move, and of the staff pages' note, assign and department forms
    assert {"created", "confirmed", "state", "note", "assigned", "department"} <= kinds, kinds
    labels = {}
    for lang in ("en", "zh"):
        gettext = web_translations(lang).gettext
        for kind in kinds:
            label = event_kind_label(kind, gettext)
            assert label, (lang, kind)
            assert label != kind, (lang, kind)
            if lang == "zh":
                assert re.search(r"[\u4e00-\u9fff]", label), (kind, label)
            labels[lang, kind] = label
        assert len({labels[lang, k] for k in kinds}) == len(kinds), "two kinds share a label"
    assert event_kind_label("some_future_kind", web_translations("zh").gettext) == "some_future_kind"


class _Cells(HTMLParser):
    """The cells of one table (by id), row by row."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id = table_id
        self.rows: list[list[str]] = []
        self._depth = 0
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and dict(attrs).get("id") == self.table_id:
            self._depth = 1
        elif self._depth and tag == "tr":
            self.rows.append([])
        elif self._depth and tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if self._depth and tag == "td" and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif self._depth and tag == "table":
            self._depth = 0

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _history(html: str) -> list[list[str]]:
    cells = _Cells("history")
    cells.feed(html)
    return [row for row in cells.rows if row]


def test_staff_history_shows_each_step_in_the_readers_language(governance_client: Any) -> None:
    """A report confirmed by its reporter, assigned, noted, moved and sent to another department: the staff
    page's history names every step in English and in Chinese, never by its stored code."""
    from exquisite.governance.reports import confirm, read_submission, submit
    from exquisite.outputs.i18n import pick
    from staff_support import governance_of, make_staff, point_in, post_form, signed_in

    client = governance_client
    gov = governance_of(client)
    make_staff(client, "boss", "admin")
    worker = make_staff(client, "worker", "department_staff", department="lighting")
    lon, lat = point_in(client, None)
    submission = read_submission(
        {"service_code": "001", "lat": repr(lat), "long": repr(lon), "description": "The lamp is out."},
        {
            a.code: (a.values[0].key if a.values else "1")
            for a in gov.services.get("001").questions
            if a.required
        },
        jurisdiction=gov.jurisdiction(None),
        catalogue=gov.services,
        rules=gov.settings.reports,
        channel="web",
    )
    with gov.store.session() as session:
        report, secret = submit(session, submission, needs_confirmation=True)
        report_id = report.id
    assert secret is not None
    with gov.store.session() as session:
        assert confirm(session, secret, max_age=timedelta(hours=1)) is not None
    signed_in(client, "boss")
    page = f"/staff/reports/{report_id}"
    for action, data in (
        ("assign", {"staff_id": str(worker)}),
        ("note", {"note": "Ladder truck needed."}),
        ("state", {"state": "in_progress", "note": "Crew on the way.", "public": "1"}),
        ("department", {"department": "roads"}),
    ):
        assert post_form(client, page, f"{page}/{action}", data).status_code == 303, action
    expected = {
        "en": [
            "Report received: Awaiting confirmation",
            "Confirmed by the reporter: Awaiting confirmation → Open",
            "Assignment changed",
            "Note added",
            "State changed: Open → In progress",
            "Sent to another department",
        ],
        "zh": [
            "收到报告",
            "报告人已确认",
            "负责人变更",
            "添加备注",
            "状态变更",
            "转交其他部门",
        ],
    }
    for lang, steps in expected.items():
        html = client.get(page, params={"lang": lang}).text
        rows = _history(html)
        assert len(rows) == len(steps), rows
        for row, step in zip(rows, steps, strict=True):
            assert row[1].startswith(step), (lang, row, step)
            assert row[1].split(":")[0] not in _event_kinds_written(), row  # a label, not the stored code
        # the department step names the department, not its code
        assert rows[-1][2] == pick(gov.services.departments["roads"], lang), rows[-1]


def _refusing_app(runs_root: Path) -> Any:
    from fastapi import HTTPException

    from exquisite.web import csrf

    app = create_app(runs_root)

    def refuse(code: int) -> None:
        raise HTTPException(code, csrf.EXPIRED if code == 403 else None)

    app.add_api_route("/refuse/{code}", refuse)
    return app


@pytest.mark.parametrize(
    ("code", "titles"),
    [
        (401, {"en": "Please sign in first", "zh": "请先登录"}),
        (403, {"en": "Not allowed", "zh": "无权操作"}),
        (429, {"en": "Too many requests", "zh": "请求过于频繁"}),
    ],
)
def test_refusals_get_their_own_error_page(runs_root: Path, code: int, titles: dict[str, str]) -> None:
    """401, 403 and 429 say what happened and what to do, in the reader's language (403 as the staff pages'
    own refusal page titles it); a message of the site's own (the CSRF refusal) is shown translated."""
    client = TestClient(_refusing_app(runs_root), raise_server_exceptions=False)
    advice = {
        401: ("Sign in on the staff sign-in page", "请在工作人员登录页面登录"),
        403: ("If you think you should be allowed", "如果您认为自己应当有权"),
        429: ("Wait a few minutes", "请稍等几分钟"),
    }[code]
    for lang, words in zip(("en", "zh"), advice, strict=True):
        page = client.get(f"/refuse/{code}", params={"lang": lang})
        assert page.status_code == code
        assert f"<h1>{escape(titles[lang])}</h1>" in page.text
        assert escape(words) in page.text
        assert "Sorry, something went wrong" not in page.text
        assert "抱歉" not in page.text
        # the 401 page's button leads to the staff sign-in, the others' to the list of cities
        assert ('id="error-sign-in"' in page.text) == (code == 401)
        assert ('href="/staff/login"' in page.text.split("<footer", 1)[0]) == (code == 401)
    refused_zh = client.get("/refuse/403", params={"lang": "zh"}).text
    assert "此表单已过期" in refused_zh
    assert "This form has expired" not in refused_zh


def test_navigation_links_the_community_view_and_staff_sign_in_only_with_governance(
    client: TestClient, governance_client: Any
) -> None:
    plain = client.get("/?list").text
    assert 'href="/communities"' not in plain
    assert 'href="/staff/login"' not in plain
    assert 'href="/report"' not in plain
    for lang in ("en", "zh"):
        _ = web_translations(lang).gettext
        with_governance = governance_client.get(f"/?list&lang={lang}").text
        nav = with_governance.split('<nav aria-label="', 1)[1].split("</nav>", 1)[0]
        footer = with_governance.split('<footer class="site-footer">', 1)[1]
        assert f'<a href="/communities">{escape(_("Communities"))}</a>' in nav
        assert 'href="/staff/login"' not in nav  # a quieter link, in the footer
        assert f'<a href="/staff/login">{escape(_("Staff sign-in"))}</a>' in footer
    communities = governance_client.get("/communities").text
    assert '<a href="/communities" aria-current="page">' in communities
    assert governance_client.get("/staff/login").status_code == 200


def test_every_residents_report_page_loads_its_stylesheet() -> None:
    """Each page template of the residents' report flow links report.css (its layout of choices and hints)."""
    templates = Path(__file__).resolve().parents[1] / "src" / "exquisite" / "web" / "templates"
    pages = list(templates.glob("report_*.html"))
    assert len(pages) >= 8
    for page in pages:
        assert "/static/report.css" in page.read_text(encoding="utf-8"), page.name
