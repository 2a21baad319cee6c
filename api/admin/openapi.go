package admin

import _ "embed"

// openAPIDoc is the OpenAPI 3 document of the admin API, served at GET
// /admin/openapi.json without authentication: it is the document
// published with keygate's source and tells nothing about this
// installation. A test checks that it documents exactly the routes the
// handler serves.
//
//go:embed openapi.json
var openAPIDoc []byte
