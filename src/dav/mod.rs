//! WebDAV core: protocol only (XML requests, multistatus, preconditions). No CRM here.
