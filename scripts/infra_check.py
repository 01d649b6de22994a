"""checkov over infra/ twice: as deployed by default, and with vnetEnabled (private networking).

Run with the interpreter of checkov's own venv (``make infra-check``); the arguments are
checkov's. checkov's Bicep parser does not evaluate expressions: ``vnetEnabled ? 'Disabled' :
'Enabled'`` reaches its checks as an unparsed object, so neither variant would really be
checked. Each variant is therefore written to a temporary copy of infra/ with every
``vnetEnabled ? A : B`` replaced by the branch that variant takes (and the parameter's default
flipped), and checkov runs on the copy. In the private variant, the skips marked
``vnetEnabled=false only`` are removed too: the checks they silence must then pass.

A ``vnetEnabled ?`` whose branches are not a quoted string, an identifier (``null`` included)
or a dotted name is an error: rewrite it, or teach this script, rather than let checkov miss it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

INFRA = Path(__file__).resolve().parent.parent / "infra"
OFF_ONLY = "vnetEnabled=false only"
_OPERAND = r"'(?:[^'\\\n]|\\.)*'|[A-Za-z_][\w.]*"
TERNARY = re.compile(rf"\bvnetEnabled \? ({_OPERAND}) : ({_OPERAND})")
DEFAULT = re.compile(r"^(param vnetEnabled bool = )(?:true|false)$", re.M)


def variant(text: str, enabled: bool) -> str:
    """The Bicep text as checkov should see it when vnetEnabled is ``enabled``."""
    text = TERNARY.sub(lambda m: m.group(1) if enabled else m.group(2), text)
    text = DEFAULT.sub(lambda m: m.group(1) + ("true" if enabled else "false"), text)
    if enabled:
        lines = text.splitlines(keepends=True)
        text = "".join(ln for ln in lines if not ("checkov:skip=" in ln and OFF_ONLY in ln))
    left = re.findall(r"[^\n]*\bvnetEnabled \?[^\n]*", text)
    if left:
        raise ValueError(f"cannot resolve: {left[0].strip()}")
    return text


def write_variant(target: Path, enabled: bool) -> None:
    shutil.copytree(INFRA, target)
    for path in target.rglob("*.bicep"):
        path.write_text(variant(path.read_text(encoding="utf-8"), enabled), encoding="utf-8")


def main(argv: list[str]) -> int:
    checkov = Path(sys.executable).with_name("checkov")
    failed = []
    for enabled in (False, True):
        name = f"vnetEnabled={'true' if enabled else 'false'}"
        with tempfile.TemporaryDirectory(prefix="hrupload-infra-") as tmp:
            copy = Path(tmp) / "infra"
            try:
                write_variant(copy, enabled)
            except ValueError as exc:
                print(f"infra-check: {name}: {exc}", file=sys.stderr)
                return 1
            print(f"== checkov, {name}", flush=True)
            if subprocess.run([str(checkov), "-d", str(copy), *argv], check=False).returncode:
                failed.append(name)
    if failed:
        print(f"infra-check: checkov failed for {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
