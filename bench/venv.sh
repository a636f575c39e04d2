# Sourced by the bench scripts: moves to the repository root and sets `target` (the cargo target
# folder) and `venv` (the Python environment of the peers, $MNV2_PEERS_VENV or target/peers-venv);
# `need_python MODULES PACKAGES...` installs PACKAGES from PyPI unless MODULES import.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
target=${CARGO_TARGET_DIR:-target}
venv=${MNV2_PEERS_VENV:-$target/peers-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
need_python() {
  local modules=$1
  shift
  "$venv/bin/python" -c "import $modules" 2>/dev/null || "$venv/bin/pip" install --quiet "$@"
}
