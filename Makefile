# Two commands do everything on a fresh Debian machine (see README.md):
#   make book   install, execute every chapter, build the HTML book into _build/html
#   make test   install, run the test suite
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
FMNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: install data book test bench clean

install: $(STAMP) data

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3
	touch $(STAMP)

# The offline Fashion-MNIST: Debian's package (flsim also finds it in $$FLSIM_DATA or downloads it).
data:
	@test -f $(FMNIST) || { apt-get update -q && apt-get install -y -q dataset-fashion-mnist; }

# Sphinx re-executes only the chapters whose text changed; after a change to flsim, all of them.
BUILT  := _build/.flsim-built
book: install
	$(VENV)/bin/jupyter-book build . --warningiserror --nitpick --keep-going \
		$(if $(wildcard $(BUILT)),$(if $(shell find flsim -name '*.py' -newer $(BUILT)),--all),--all)
	touch $(BUILT)

# The suite on every core (pytest-xdist): the chapters' tiny runs are mostly single-threaded.
test: install
	$(PY) -m pytest -n auto

# Speed against a plain PyTorch loop and Flower (benchmarks/README.md); about 10 minutes.
# Flower goes beside the environment, not into it (see the bench extra in pyproject.toml).
FLOWER := $(VENV)/flower
$(FLOWER)/.installed: pyproject.toml
	$(PY) -m pip install --quiet --upgrade --target $(FLOWER) "flwr[simulation]>=1.20,<2"
	touch $@

bench: install $(FLOWER)/.installed
	$(PY) -m benchmarks

clean:
	rm -rf _build $(VENV)
