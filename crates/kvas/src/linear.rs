//! The linear-map builder: all RAM at PAGE_OFFSET with the largest leaves possible.
