package ext

// HashlimitUser2Credits exposes user2credits to the tests.
var HashlimitUser2Credits = hashlimitUser2Credits
