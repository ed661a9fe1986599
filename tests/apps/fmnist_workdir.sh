# Sourced by the CLI tests that run the shipped configs: `fmnist_workdir CONFIG_DIR LABELED_PER_CLASS`
# makes $work, a temporary folder (removed on exit) with the configs in configs/ and a Fashion-MNIST
# split in data/fmnist beside them, where the configs read it (../data/fmnist). Needs $cli.
fmnist_workdir() {
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/configs"
  cp -r "$1"/*.yaml "$1"/recipes "$work/configs/"
  "$cli" data fashion-mnist --out "$work/data/fmnist" --labeled-per-class "$2" --seed 0 > /dev/null
}
