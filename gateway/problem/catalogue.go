package problem

import "net/http"

// The catalogue. Keep it in step with docs/problems.md (TestCatalogueDocumented checks).
var (
	Malformed = Type{"malformed-xml", http.StatusBadRequest, "Malformed XML",
		"The message is not well-formed XML. `errors` lists libxml2's message with line and column. Fix the XML producer."}
	Forbidden = Type{"forbidden-xml", http.StatusBadRequest, "Forbidden XML construct",
		"The message contains a construct the gateway refuses for safety: a DOCTYPE (and with it entity declarations and external references), or more than a limit allows: nesting depth, attributes on one element, the length of one attribute value, namespace declarations in scope (`limit` and `limit_key` name it). XÖV messages need none of these; remove the DOCTYPE or simplify the document."}
	SchemaViolation = Type{"schema-violation", http.StatusUnprocessableEntity, "Schema violation",
		"The message is well-formed but violates its XÖV schema. `errors` lists every violation with line, column and libxml2's message; `facts` shows what the gateway identified."}
	UnknownMessage = Type{"unknown-message-type", http.StatusUnprocessableEntity, "Unknown namespace or message type",
		"The root element's namespace is not one of the loaded standards, or the namespace is loaded but the root element is not a message of it. `found` names what was found, `loaded` the namespaces the gateway knows. Check the namespace and version your producer writes, or ask the operator to load the schema package."}
	MetadataConflict = Type{"metadata-conflict", http.StatusUnprocessableEntity, "Metadata contradicts the message",
		"A value in the `metadata` part contradicts the same value in the XÖV message (`conflicts` lists field, document value and metadata value). Metadata may only supply what the document lacks."}
	NoRoute = Type{"no-route", http.StatusUnprocessableEntity, "No route for the message",
		"No routing rule matches the message; nothing was stored. `facts` names reader and message type. Check the reader (Behördenkennung) or ask the operator for a route."}
	TestRefused = Type{"test-message-refused", http.StatusUnprocessableEntity, "Test message refused",
		"The message is marked as a test (test=\"true\" or metadata) but the matching route has no test target. Test messages never reach a production Fachverfahren."}
	BadRequest = Type{"bad-request", http.StatusBadRequest, "Bad request",
		"The request is malformed: a multipart body without a `message` part, unreadable metadata JSON, a broken multipart body. `detail` says what."}
	TooLarge = Type{"payload-too-large", http.StatusRequestEntityTooLarge, "Request too large",
		"The request body, one attachment or the number of attachments exceeds the configured limit (`limit` in bytes or as a count, `limit_key` the configuration key)."}
	RequestTimeout = Type{"request-timeout", http.StatusRequestTimeout, "Request timeout",
		"The request body did not arrive within the time the gateway allows for reading a request (`server.read_timeout`). Nothing was stored; send the request again, on a faster connection or with a smaller body."}
	UnsupportedMediaType = Type{"unsupported-media-type", http.StatusUnsupportedMediaType, "Unsupported content type",
		"Send the message as `application/xml` (or `text/xml`), or as `multipart/form-data` with a `message` part."}
	Unauthorized = Type{"unauthorized", http.StatusUnauthorized, "Missing or invalid credentials",
		"Send the API key as `Authorization: Bearer <key>` (or `X-API-Key`), or present the client certificate the operator mapped to you. Also the answer when the key and the certificate belong to different principals, or when your principal requires its client certificate and the request came without it."}
	NotAllowed = Type{"forbidden", http.StatusForbidden, "Not allowed with this key",
		"The API key is valid but not allowed to do this. Either it is of the wrong kind for the endpoint (the admin endpoints under `/v1/admin/` take an admin key, the submission endpoints a sender's key, the inbox under `/v1/inbox` a reader's key; the operator configures them under `admins`, `senders` and `readers`), or the submission is outside the sender's permissions (`senders[].allow`): `permission` names which (`services`, `standards`, `readers` or `message_types`), `value` the message's value and `allowed` the sender's patterns. Nothing was stored."}
	RateLimited = Type{"rate-limited", http.StatusTooManyRequests, "Too many requests",
		"Your sender (or admin) sent more requests than its rate limit allows (`senders[].rate_limit`, default `server.rate_limit`). Nothing was done; retry after `Retry-After` seconds."}
	NotFound = Type{"not-found", http.StatusNotFound, "Not found",
		"No submission with this id exists for your sender, no message with this id waits in your inbox (`/v1/inbox/{id}`: never there, already closed, or an attachment number the message does not have), or (on the admin endpoints) no dead letter for this submission id. (The gateway does not reveal whether another sender's submission or another reader's message exists.)"}
	IdempotencyConflict = Type{"idempotency-key-reused", http.StatusConflict, "Idempotency-Key reused with a different request",
		"The Idempotency-Key was used before with a different body. Use a new key for a new submission."}
	ReplayRefused = Type{"replay-refused", http.StatusConflict, "Dead letter cannot be replayed",
		"The dead letter exists but cannot be delivered again: its target is no longer configured (`target`), or its stored message content is gone. `detail` says which. Configure the target again, or discard the dead letter."}
	MethodNotAllowed = Type{"method-not-allowed", http.StatusMethodNotAllowed, "Method not allowed",
		"The endpoint does not support this HTTP method."}
	Unavailable = Type{"unavailable", http.StatusServiceUnavailable, "Temporarily unavailable",
		"The gateway cannot store the submission right now (JetStream unavailable, its limits reached, or the gateway shutting down). The submission was not accepted; retry after `Retry-After` seconds with the same Idempotency-Key."}
	Busy = Type{"busy", http.StatusServiceUnavailable, "Gateway busy",
		"The gateway holds as many requests with a body as it may at once: their number reached `server.max_in_flight`, or their bodies would exceed `server.max_in_flight_bytes` (`limit` and `limit_key` say which). The body was not read and nothing was done; retry after `Retry-After` seconds, with the same Idempotency-Key."}
	Internal = Type{"internal-error", http.StatusInternalServerError, "Internal error",
		"An unexpected error. The `request_id` identifies the log lines for the operator."}
)

// Catalogue lists every type, in documentation order.
var Catalogue = []Type{
	Malformed, Forbidden, SchemaViolation, UnknownMessage, MetadataConflict, NoRoute, TestRefused,
	BadRequest, TooLarge, RequestTimeout, UnsupportedMediaType, Unauthorized, NotAllowed, RateLimited, NotFound, IdempotencyConflict,
	ReplayRefused, MethodNotAllowed, Unavailable, Busy, Internal,
}
