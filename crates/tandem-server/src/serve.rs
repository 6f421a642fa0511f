//! Building the router, starting the server and its workers, stopping them cleanly.

use axum::{extract::DefaultBodyLimit, middleware, routing::get, Json, Router};
use std::{net::SocketAddr, sync::Arc};
use tandem_core::Config;
use tandem_store::{Store, StoreError};
use tokio::{sync::watch, task::JoinHandle};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::{agents::Models, error::ApiError, knowledge::Knowledge, openapi::ApiDoc, routes, state::AppState};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("knowledge base: {0}")]
    Knowledge(#[from] crate::knowledge::KnowledgeFailure),
}

/// The whole HTTP application over a store.
pub fn router(state: AppState) -> Router {
    let (api_router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi()).nest("/api/v1", routes::api()).split_for_parts();
    let api = Arc::new(api);
    let max_body = state.config.server.max_body_bytes;
    Router::new()
        .merge(api_router)
        .route("/api/v1/openapi.json", get(move || async move { Json(api.as_ref().clone()) }))
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .route("/metrics", get(routes::metrics))
        .route("/webhooks/{provider}/{channel_id}", get(routes::webhooks::handshake).post(routes::webhooks::receive))
        .route("/widget/{channel_id}/widget.js", get(routes::widget::script))
        .route("/widget/{channel_id}/ws", get(routes::widget::socket))
        .route("/media/{token}", get(routes::public_media))
        .route("/inbox", get(routes::web::page))
        .route("/inbox/inbox.js", get(routes::web::script))
        .route("/inbox/inbox.css", get(routes::web::stylesheet))
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(axum::http::StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method")
        })
        .layer(middleware::from_fn(crate::metrics::track))
        .layer(TraceLayer::new_for_http())
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// A running server: its address, its store, and a handle to stop it.
pub struct Server {
    addr: SocketAddr,
    store: Store,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    models: Arc<Models>,
}

impl Server {
    /// Opens the store (running migrations), binds `config.server.bind` (port 0 picks a free one),
    /// and starts serving and, when enabled, the job worker.
    pub async fn start(config: Config) -> Result<Self, ServerError> {
        let store = Store::connect(&config.database.url, config.database.max_connections).await?;
        crate::metrics::handle();
        let listener = tokio::net::TcpListener::bind(&config.server.bind)
            .await
            .map_err(|source| ServerError::Bind { addr: config.server.bind.clone(), source })?;
        let addr = listener.local_addr()?;
        // Answers go out at once rather than waiting on Nagle's algorithm for the client's ACK.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
        });
        let knowledge = {
            let config = config.knowledge.clone();
            Arc::new(tokio::task::spawn_blocking(move || Knowledge::open(&config)).await.map_err(std::io::Error::other)??)
        };
        knowledge.reconcile(&store).await?;
        // The model: a failure to start it is kept and answered by every AI request (503), so
        // the rest of Tandem serves without it.
        let models = Arc::new(Models::with_config(
            if config.llm.enabled {
                tandem_llm::Llm::start(&config.llm).await.map_err(|e| e.to_string())
            } else {
                Err("the LLM is disabled by configuration (llm.enabled = false)".into())
            },
            config.llm.clone(),
        ));
        let messaging = Arc::new(crate::messaging::Messaging::new(&config.channels));
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        if config.workers.enabled {
            let worker = crate::worker::Worker {
                store: store.clone(),
                knowledge: knowledge.clone(),
                models: models.clone(),
                messaging: messaging.clone(),
            };
            for _ in 0..config.workers.concurrency.max(1) {
                tasks.push(tokio::spawn(crate::worker::run(worker.clone(), config.workers.clone(), stopped.clone())));
            }
        }
        let app = router(AppState {
            store: store.clone(),
            config: Arc::new(config),
            knowledge,
            models: models.clone(),
            messaging,
            inbound: crate::inbound_writer::InboundWriter::start(store.clone()),
            stopping: stopped.clone(),
        });
        let mut on_stop = stopped.clone();
        tasks.push(tokio::spawn(async move {
            let graceful = async move {
                let _ = on_stop.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(graceful).await {
                tracing::error!(error = %e, "HTTP server stopped with an error");
            }
        }));
        tracing::info!(%addr, "Tandem is listening");
        Ok(Self { addr, store, stop, tasks, models })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Stops accepting requests, lets running ones and the current job finish, closes the store.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        // The server and worker are done with the model: stop the local llama-server, if any.
        if let Ok(models) = Arc::try_unwrap(self.models) {
            models.shutdown().await;
        }
        self.store.close().await;
    }
}

/// Runs until Ctrl-C or SIGTERM.
pub async fn serve(config: Config) -> Result<(), ServerError> {
    let server = Server::start(config).await?;
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
