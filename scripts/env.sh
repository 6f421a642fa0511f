# Build settings every script shares. Sourced, not run.
# Keep builds on this repo's target directory unless the caller chose another one.
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
