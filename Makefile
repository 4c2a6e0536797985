# Thin wrapper over CMake: the commands of the README.
#   make run      install missing build packages (as root), build, run netd in the foreground
#   make test     the same set-up, then every test through ctest
#   make install  build, then install under PREFIX (default /usr/local; DESTDIR is honoured)
BUILD      ?= build
CMAKE_ARGS ?=
NETD_ARGS  ?=
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps configure build run test install clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) $(CMAKE_ARGS)

configure: deps
	cmake -S . -B $(BUILD) $(CMAKE_ARGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/daemon/netd --foreground $(NETD_ARGS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The prefix is applied at install time (cmake --install --prefix): paths in
# netdclient.pc and netd.service's ExecStart name PREFIX, whatever the build used.
install: build
	cmake --install $(BUILD) --prefix "$(PREFIX)"

clean:
	rm -rf $(BUILD)
