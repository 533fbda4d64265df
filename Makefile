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

# The GUI tests open real PyBullet windows on a virtual display (Xvfb, from Debian's packages) and type into
# them with xdotool.
xvfb:
	@command -v Xvfb >/dev/null || (apt-get update -q && apt-get install -y -q xvfb xauth) \
		|| echo "warning: could not install Xvfb; the GUI tests will be skipped"
	@command -v xdotool >/dev/null || (apt-get update -q && apt-get install -y -q xdotool) \
		|| echo "warning: could not install xdotool; the GUI play test will be skipped"

test: venv xvfb
	$(BIN)/python -m pytest -q

# The linter and the formatter (ruff, configured in pyproject.toml); CI runs this before the tests.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) *.egg-info $(OUT)
