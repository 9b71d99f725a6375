"""The vLLM tests: a package, so that pytest imports their conftest as ``vllm_engine.conftest``. As a plain folder
both conftest files are imported as ``conftest``, the later replaces the first in ``sys.modules``, and a test's
``from conftest import REPO`` made while running then finds the wrong one (found by CI: ImportError)."""
