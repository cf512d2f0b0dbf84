"""The HTML report, opened in a real browser (Debian's Chromium, headless): a table with the terminal's
marks, a click on a cell that opens its details, escaped text from commits and logs, a phone's width,
and nothing fetched from a network. The seed scenario's page (real builds) is in test_seed_scenario.py."""

import re
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import bisected, every_kind

from orchestrator.models import BranchRun, BranchState, Diagnostic, Nightly
from orchestrator.views import html

HOSTILE = "<script>alert(1)</script>"


def write(tmp_path: Path, report, name: str = "report.html", **links) -> Path:
    page = tmp_path / name
    page.write_text(html.page(report, f"report {HOSTILE}", html.Links(**links), "2026-11-30 12:00 UTC"))
    return page


@pytest.fixture
def tab(browser):
    """A page of the browser at a laptop's width; every dialog a script would open is kept."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()


def grid(page) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(commit, cell) → (text, class, label) of every cell of the grid, as the browser laid it out."""
    return {
        (row, cell): (text, css, label)
        for row, cell, text, css, label in page.evaluate("""() => {
            const cells = [...document.querySelectorAll('table.grid thead th')].map(th => th.textContent);
            return [...document.querySelectorAll('table.grid tbody tr')].flatMap(tr => [...tr.children].slice(2).map((td, i) => [
                tr.querySelector('th').textContent, cells[i + 2], td.textContent, td.className,
                td.querySelector('a')?.getAttribute('aria-label') ?? '']));
        }""")
    }


def test_the_grid_is_a_table_with_the_terminals_marks_and_each_verdict_in_words(tmp_path, tab):
    tab.goto(write(tmp_path, every_kind()).as_uri())
    found = grid(tab)
    a, b, c = "a" * 12, "b" * 12, "c" * 12
    assert found[(b, "fails")] == ("✗new +1e", "new-fail", f"fails at {b}: ✗ NEW FAIL +1e")
    assert found[(c, "fails")] == ("✓fix -1e", "fixed", f"fails at {c}: ✓ FIXED -1e")
    assert found[(b, "warns")][:2] == ("! +1w", "new-warnings")
    assert found[(a, "host")][:2] == ("?", "infra") and found[(b, "host")][:2] == ("⚠", "matrix")
    assert found[(c, "cut")][:2] == ("✗°? 1e", "failing")
    assert tab.locator("table.grid th[scope=col]").count() == 2 + 6 and tab.locator("table.grid th[scope=row]").count() == 3
    assert tab.dialogs == []


def test_hovering_or_focusing_a_cell_shows_its_verdict_and_counts(tmp_path, tab):
    tab.goto(write(tmp_path, every_kind()).as_uri())
    cell = tab.locator("td.new-fail a")
    shown = "() => getComputedStyle(document.activeElement, '::after').content"
    cell.focus()
    assert tab.evaluate(shown) == f'"fails at {"b" * 12}: ✗ NEW FAIL +1e"'


def test_clicking_a_cell_opens_its_regression_with_the_error_the_first_bad_commit_and_how_to_reproduce(tmp_path, tab, monkeypatch):
    monkeypatch.setattr(html, "UNFOLDED", 0)  # a long report: each regression folded until clicked
    tab.goto(write(tmp_path, bisected(every_kind()), artifacts="results/").as_uri())
    entry = tab.locator("section.cause", has_text="NEW FAIL: fails")
    assert not entry.locator(".body").is_visible()
    tab.locator("td.new-fail a").click()
    assert entry.locator(".body").is_visible()
    text = entry.inner_text()
    assert "arch/riscv/kvm/vcpu_sbi.c:87:26: error: 'struct <anonymous>' has no member named 'flags'" in text
    assert "87 |         run->system_event.flags = 1;" in text
    assert "first bad commit: bbbbbbbbbbbb b (Au Thor <au@thor.invalid>), found in 2 builds" in text
    assert "orchestrate --commit bbbbbbbbbbbb --cells fails --rebuild --tree /src/linux" in text
    links = entry.locator("ul.links a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert links == [f"results/{'b' * 40}/fails/{name}" for name in ("build.log", "config", "metadata.json")]


def test_a_cell_with_nothing_to_explain_links_its_build_log(tmp_path, tab):
    tab.goto(write(tmp_path, every_kind(), artifacts="../").as_uri())
    href = tab.locator("table.grid tbody tr").nth(0).locator("td").nth(1).locator("a").get_attribute("href")  # fails at A: passed
    assert href == f"../{'a' * 40}/fails/build.log"


def test_text_from_commits_and_logs_is_shown_as_text_never_run(tmp_path, tab):
    report = every_kind()
    hostile = Diagnostic("error", "a.c", 1, 1, '<img src=x onerror="alert(2)">', excerpt=["<b>bold</b> & </pre>"], fingerprint="h")
    report.rows[1].subject = HOSTILE
    report.causes = [replace(cause, subject=HOSTILE, author='"><svg onload=alert(3)>', diagnostics=[hostile]) for cause in report.causes]
    tab.goto(write(tmp_path, report).as_uri())
    assert tab.dialogs == []
    assert tab.locator("script").count() == 0 and tab.locator("img").count() == 0 and tab.locator("main svg[onload]").count() == 0
    assert tab.locator("table.grid td.subject").nth(1).inner_text() == HOSTILE
    assert tab.locator("h1").inner_text() == f"report {HOSTILE}"
    assert '<img src=x onerror="alert(2)">' in tab.locator("section.cause").first.inner_text()
    assert "<b>bold</b> & </pre>" in tab.locator("section.cause").first.inner_text()


def test_a_phone_scrolls_the_grid_not_the_page(tmp_path, browser):
    context = browser.new_context(viewport={"width": 390, "height": 800})
    page = context.new_page()
    page.goto(write(tmp_path, bisected(every_kind())).as_uri())
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()


def test_each_cell_has_a_history_of_status_and_duration(tmp_path, tab):
    tab.goto(write(tmp_path, every_kind()).as_uri())
    history = tab.locator("table.history tbody tr", has_text="fails").locator("svg")
    assert history.get_attribute("aria-label") == "fails: 3 results, 1 failed; 10–11 s"
    assert history.locator("rect").evaluate_all("rects => rects.map(r => r.getAttribute('class'))") == ["ok", "failing", "ok"]
    assert history.locator("polyline").get_attribute("points").count(",") == 3


def test_the_page_names_no_network_address_and_works_without_a_server(tmp_path):
    text = write(tmp_path, bisected(every_kind()), artifacts="../../").read_text()
    assert not re.search(r"""(src|href|action)\s*=\s*["']?(https?:)?//""", text)
    assert "@import" not in text and "url(" not in text and "<link" not in text and "<script" not in text


def test_a_long_report_lists_the_newest_fixes_and_points_to_the_grid_for_the_rest(tmp_path, monkeypatch):
    monkeypatch.setattr(html, "LISTED", 1)
    text = write(tmp_path, every_kind()).read_text()
    assert "The newest 1 of 3; the older ones are in the grid, each linking to its build.log." in text
    assert text.count('<li id="f-') == 1



def test_a_nightlys_page_has_a_section_per_branch_with_the_previous_tip_first(tmp_path, tab):
    report = bisected(every_kind())
    reference = replace(report.rows[0], sha="9" * 40, subject="the previous tip")
    branches = [
        BranchRun("kvm", "next", "/src/kvm", state=BranchState.NEW, detail="3 new commits", tip="c" * 40, reference=reference,
                  rows=report.rows, results=list(report.results.values()), causes=report.causes),
        BranchRun("kvm", "queue", "/src/kvm", state=BranchState.FETCH_FAILED, detail="couldn't find remote ref refs/heads/queue"),
    ]  # fmt: skip
    run = Nightly(date="2026-11-30", started="s", finished="f", matrix="/m.yaml", results="/r", cells=report.cells, branches=branches)
    page = tmp_path / "nightly" / "2026-11-30" / "report.html"
    page.parent.mkdir(parents=True)
    page.write_text(html.nightly_page(run, html.Links("../../")))
    tab.goto(page.as_uri())
    subject = "[orchestrator nightly 2026-11-30] 2 regressions (2 cells) in kvm/next; infrastructure errors in kvm/next, kvm/queue"  # the host cell
    assert tab.locator("h1").inner_text() == subject
    assert tab.locator("h2").all_inner_texts() == ["kvm:next", "kvm:queue"]
    assert tab.locator("#b0 h3").all_inner_texts() == ["Commits × cells", "Regressions", "New warnings (not counted as regressions)", "Fixed",
                                                       "History per cell"]  # fmt: skip
    assert tab.locator("#b0 section.cause h4").count() == 2
    first = tab.locator("#b0 table.grid tbody tr").first
    assert "reference" in first.get_attribute("class") and first.locator("td.subject").inner_text() == "(previous nightly) the previous tip"
    assert tab.locator("#b1").inner_text().endswith("fetch failed: couldn't find remote ref refs/heads/queue")
    log = tab.locator("#b0 table.grid tbody tr").nth(1).locator("td a").first.get_attribute("href")
    assert log == f"../../{'a' * 40}/fails/build.log"  # from results/nightly/<date>/ back to results/
