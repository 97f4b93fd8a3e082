#!/bin/sh
echo "ttst: coverage through Bazel is not supported offline" >&2
exit 1
