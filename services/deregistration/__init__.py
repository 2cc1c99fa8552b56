"""套餐式注销 and 歇业备案: one application cancels everything an enterprise holds; a suspension filing keeps
it alive through hard times."""
