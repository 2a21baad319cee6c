package proxy

import (
	"strconv"
)

// statusCodes are the values of keygate_requests_total's code label: the
// codes keygate answers itself and the ones upstreams commonly return.
// Any other status is counted as "other", so the label has at most
// len(statusCodes)+1 values.
var statusCodes = [...]int{
	100, 101,
	200, 201, 202, 203, 204, 206,
	301, 302, 303, 304, 307, 308,
	400, 401, 402, 403, 404, 405, 406, 408, 409, 410, 411, 412, 413, 414, 415, 416, 421, 422, 425, 426, 428, 429, 431, 451,
	500, 501, 502, 503, 504, 505,
}

// numCodes is the number of code label values: statusCodes and "other"
// (index 0).
const numCodes = len(statusCodes) + 1

// codeOther is the label of a status outside statusCodes.
const codeOther = "other"

var (
	codeLabels  [numCodes]string
	codeIndexes [600]uint8 // status → index in codeLabels; 0: other
)

func init() {
	codeLabels[0] = codeOther
	for i, c := range statusCodes {
		codeLabels[i+1] = strconv.Itoa(c)
		codeIndexes[c] = uint8(i + 1)
	}
}

// codeIndex is status's index in codeLabels; a status outside
// statusCodes is 0, "other".
func codeIndex(status int) int {
	if status < 0 || status >= len(codeIndexes) {
		return 0
	}
	return int(codeIndexes[status])
}
