# The two commands of the README. Both use the one virtual environment in .venv/.
.PHONY: demo test setup bench clean

demo:  ## set up, then generate a labeled clip, sign a camera clip, verify both
	scripts/setup.sh
	.venv/bin/kinoseal demo --out out/demo

test:  ## set up (with test extras and Debian packages), then run the test suite
	scripts/setup.sh test,peers
	.venv/bin/python -m pytest -q

setup:
	scripts/setup.sh test,peers

clean:
	rm -rf out .pytest_cache
