#!/usr/bin/env bash
# Create the virtual environment RecBole, the peer of `lakesight eval recs` and `bench recs`,
# runs in (scripts/recbole_peer.py).
#
#   scripts/recbole-venv.sh [PATH]        (default: var/recbole-venv)
#
# RecBole 1.2.1 pins colorlog and colorama exactly and asks for ray <= 2.6.3, which clash with
# the project's environment (Airflow's pins), so it gets its own. Its training path needs none
# of ray, plotly or hyperopt (they serve its hyper-parameter search), so RecBole installs
# without dependencies and the ones its trainer imports are listed here. torch comes from the
# machine's local CPU wheel where pip is set up to prefer it. About a minute, once. Idempotent:
# a venv this script finished is left alone. Prints nothing when there is nothing to do.
# numpy stays below 2: RecBole 1.2.1 sets `np.float = np.float_`, which numpy 2 removed.
set -euo pipefail

VENV="${1:-var/recbole-venv}"
PYTHON="${PYTHON:-python3}"
PACKAGES=(torch==2.13.0 numpy==1.26.4 scipy==1.13.1 pandas==2.2.3 tqdm colorlog==4.7.2 colorama==0.4.4 scikit-learn==1.5.2
  pyyaml tensorboard thop tabulate texttable psutil)
PEER=recbole==1.2.1
STAMP="$VENV/.recbole-venv-done"

if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "${PACKAGES[*]} $PEER" ]]; then
  exit 0
fi

echo "recbole-venv: installing $PEER into $VENV (about a minute) ..." >&2
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV"
fi
# The project's constraints file pins the project's own closure, not this one.
PIP=(env PIP_CONSTRAINT= "$VENV/bin/pip" install -q --disable-pip-version-check)
"${PIP[@]}" "${PACKAGES[@]}" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
"${PIP[@]}" --no-deps "$PEER" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
"$VENV/bin/python" -c 'import recbole.trainer, recbole.model.general_recommender' >/dev/null
printf '%s\n' "${PACKAGES[*]} $PEER" >"$STAMP"
echo "recbole-venv: ready ($VENV)" >&2
