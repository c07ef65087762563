package cli

import "math/rand/v2"

// randomName makes up an endpoint name for run without --name, as docker
// does: an adjective and the surname of a scientist or engineer of
// networking, "eager_cerf". Every name is a valid endpoint name
// ([a-z_], well under 63 characters).
func randomName() string {
	return adjectives[rand.IntN(len(adjectives))] + "_" + surnames[rand.IntN(len(surnames))]
}

var adjectives = []string{
	"agile", "bold", "brave", "bright", "calm", "clever", "cool", "crisp", "curious", "daring",
	"eager", "elegant", "epic", "fast", "fervent", "gentle", "happy", "hopeful", "jolly", "keen",
	"kind", "lucid", "lucky", "merry", "modest", "nifty", "noble", "patient", "proud", "quick",
	"quiet", "relaxed", "serene", "sharp", "steady", "sweet", "tender", "upbeat", "vibrant", "witty",
	"wizardly", "zealous",
}

var surnames = []string{
	"abramson", "baran", "bellovin", "berners_lee", "bosack", "braden", "cerf", "clark", "comer",
	"crocker", "davies", "deering", "estrin", "floyd", "fuller", "hinden", "jacobson", "kahn",
	"kleinrock", "lampson", "metcalfe", "mills", "mockapetris", "nagle", "perlman", "postel",
	"pouzin", "reynolds", "roberts", "saltzer", "shannon", "stevens", "tanenbaum", "thacker",
	"tomlinson", "vixie", "zhang",
}
