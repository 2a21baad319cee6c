package selfservice

import _ "embed"

// openAPIDoc is the OpenAPI 3 document of the self-service API, served at
// GET /openapi.json without sign-in. A test checks that it documents
// exactly the routes the handler serves.
//
//go:embed openapi.json
var openAPIDoc []byte
