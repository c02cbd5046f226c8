// Package platform is the skeleton of a participant service: what the business services
// share beyond the HTTP seam (internal/httpx). A service describes itself as a Service
// (its name, configuration, migration, TCC actions, routes and error mapping) and Run
// does the rest the same way for all: the start-up log, the database (opened, migrated,
// closed last), the TCC participant, the one or two listeners, the barrier purge and any
// other background job, metrics, and graceful shutdown. It knows nothing of orders,
// stock or money.
package platform
