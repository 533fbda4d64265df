# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
OUT ?= out

.PHONY: demo test lint venv xvfb clean

$(BIN)/terrain-mdm: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $@

venv: $(BIN)/terrain-mdm

demo: venv
	$(BIN)/terrain-mdm demo --out $(OUT)

# The viewer test opens a real PyBullet window on a virtual display (Xvfb, from Debian's packages).
xvfb:
	@command -v Xvfb >/dev/null || (apt-get update -q && apt-get install -y -q xvfb xauth) \
		|| echo "warning: could not install Xvfb; the GUI viewer test will be skipped"

test: venv xvfb
	$(BIN)/python -m pytest -q

# The linter and the formatter (ruff, configured in pyproject.toml); CI runs this before the tests.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) *.egg-info $(OUT)
