//go:build race

package hostile

// raceEnabled is true when the race detector is on: CPU figures are then
// several times higher and only reported.
const raceEnabled = true
