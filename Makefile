# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
OUT ?= out

.PHONY: demo test venv bench clean

$(BIN)/terrain-mdm: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $@

venv: $(BIN)/terrain-mdm

demo: venv
	$(BIN)/terrain-mdm demo --out $(OUT)

test: venv
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) *.egg-info $(OUT)
