"""The engine stays headless: importing all of it never pulls in Textual."""
import subprocess
import sys


def test_engine_never_imports_textual():
    code = ("import pkgutil, importlib, sys, engine\n"
            "for m in pkgutil.walk_packages(engine.__path__, 'engine.'): importlib.import_module(m.name)\n"
            "print('textual' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
