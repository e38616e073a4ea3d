"""`make analysis`: every notebook in lightning_gans/notebooks/ executed headless (papermill) and rendered to HTML.

The notebooks hold no logic of their own beyond choosing what to draw; they are parameterised by the storage (or
an exported frame) and the studies, and write their figures (PNG and SVG) and tables under the output folder. A
notebook that fails does not stop the others: its partly executed copy is kept for reading the error, and the
command exits non-zero at the end.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import papermill
from jsonargparse import ArgumentParser
from jupyter_client.manager import KernelManager
from nbconvert import HTMLExporter
from traitlets import default

from ..resources import NOTEBOOKS
from ..search.studies import StorageError
from .frames import add_source_arguments, load_frame, split_names
from .index import index_page

DEFAULT_OUTPUT = "reports"


def notebook_paths(names: list[str] | None = None) -> list[Path]:
    available = sorted(NOTEBOOKS.glob("*.ipynb"))
    if not names:
        return available
    by_stem = {path.stem: path for path in available}
    unknown = [name for name in names if name not in by_stem]
    if unknown:
        raise ValueError(f"unknown notebook {unknown[0]!r}; notebooks in {NOTEBOOKS}: {', '.join(by_stem)}")
    return [by_stem[name] for name in names]


def absolute_source(source: str) -> str:
    """Kernels run in the output folder, so a relative journal or export path is resolved here first."""
    return source if "://" in source else str(Path(source).resolve())


class LocalKernelManager(KernelManager):
    """Kernels on local sockets: nothing crosses a network, so Jupyter has no unencrypted TCP to warn about."""

    @default("transport")
    def _local_transport(self) -> str:
        return "ipc"


def execute(notebook: Path, source: str, studies: str, output: Path) -> Path:
    """Runs one notebook into `output`, then renders it; returns the HTML path. Raises if a cell fails."""
    executed = output / notebook.name
    papermill.execute_notebook(
        str(notebook),
        str(executed),
        parameters={"source": absolute_source(source), "studies": studies, "output": str(output)},
        kernel_name="python3",
        cwd=str(output),
        progress_bar=False,
        kernel_manager_class=LocalKernelManager,
    )
    return render(executed)


def render(executed: Path) -> Path:
    html, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    path = executed.with_suffix(".html")
    path.write_text(html, encoding="utf-8")
    return path


def analysis_command(arguments: list[str]) -> int:
    parser = ArgumentParser(prog="lightning-gans analysis", description=__doc__.splitlines()[0])
    add_source_arguments(parser)
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="folder for notebooks, HTML, figures and tables")
    parser.add_argument(
        "--notebook",
        type=list[str] | None,
        default=None,
        help="run only these notebooks (file stems), e.g. [05_polygons]",
    )
    options = parser.parse_args(arguments)
    try:
        notebooks = notebook_paths(options.notebook)
        load_frame(options.storage, options.study)  # a bad storage or study name fails here, not in every notebook
    except (StorageError, FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    output = Path(options.output).resolve()
    output.mkdir(parents=True, exist_ok=True)
    studies = ",".join(split_names(options.study))
    succeeded: dict[str, bool] = {}
    for notebook in notebooks:
        started = time.perf_counter()
        try:
            html = execute(notebook, options.storage, studies, output)
        except papermill.PapermillExecutionError as error:
            succeeded[notebook.stem] = False
            print(f"{notebook.stem}: FAILED in cell {error.exec_count}: {error.ename}: {error.evalue}", flush=True)
            print(f"  the partly executed notebook is {output / notebook.name}", flush=True)
            continue
        succeeded[notebook.stem] = True
        print(f"{notebook.stem}: {html} ({time.perf_counter() - started:.0f} s)", flush=True)
    page = index_page(output, succeeded, absolute_source(options.storage), studies)
    print(f"figures in {output / 'figures'}, tables in {output / 'tables'}; all of it linked from {page}")
    failed = [stem for stem, ok in succeeded.items() if not ok]
    if failed:
        print(f"{len(failed)} of {len(notebooks)} notebooks failed: {', '.join(failed)}")
        return 1
    return 0
