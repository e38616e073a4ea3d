"""`<output>/index.html`: one page that links everything `make analysis` wrote, so nobody has to browse the folder.

Figures are shown (PNG, linking to the SVG when there is one), tables and notebooks are linked, and a notebook that
failed is listed as failed with its partly executed copy, so the page never hides a missing result.
"""

from __future__ import annotations

import html
import time
from pathlib import Path


def index_page(output: Path, notebooks: dict[str, bool], source: str, studies: str) -> Path:
    """Writes the page for the notebooks run (stem -> succeeded) and every figure and table now in `output`."""
    sections = [
        f"<h1>lightning-gans analysis</h1><p>{html.escape(source)}, studies: {html.escape(studies or 'all')}; "
        f"written {time.strftime('%Y-%m-%d %H:%M')}</p>",
        "<h2>Notebooks</h2><ul>",
    ]
    for stem, succeeded in notebooks.items():
        target = f"{stem}.html" if succeeded else f"{stem}.ipynb"
        state = "" if succeeded else " <b>(failed: the partly executed notebook)</b>"
        sections.append(f'<li><a href="{target}">{stem}</a>{state}</li>')
    sections.append("</ul><h2>Figures</h2>")
    for png in sorted((output / "figures").glob("*.png")):
        svg = png.with_suffix(".svg")
        link = f"figures/{svg.name}" if svg.is_file() else f"figures/{png.name}"
        sections.append(
            f'<figure><a href="{link}"><img src="figures/{png.name}" width="640"></a>'
            f"<figcaption>{png.stem}</figcaption></figure>"
        )
    sections.append("<h2>Tables</h2><ul>")
    sections += [
        f'<li><a href="tables/{csv.name}">{csv.name}</a></li>' for csv in sorted((output / "tables").glob("*.csv"))
    ]
    sections.append("</ul>")
    page = output / "index.html"
    page.write_text("<!doctype html><meta charset='utf-8'><title>analysis</title>\n" + "\n".join(sections), "utf-8")
    return page
